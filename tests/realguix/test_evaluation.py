"""Part 1: every example system, every config of tests/corpus and the module repositories
evaluate (``system image -t qcow2 -d``, vmfleet's own argv) with the real Guix exactly when they
do with the stand-in at the same revision, and fail with the same class of failure."""

from __future__ import annotations

import pytest

from tests.helpers import real_guix as real

pytestmark = pytest.mark.realguix


def _outcome(run: real.Run) -> str:
    return "evaluates" if run.ok else f"fails: {run.failure}"


def test_every_config_evaluates_or_fails_as_the_standin_says(evaluations, built_guix):
    rows = [(case.name, _outcome(r), _outcome(s), (r.message if not r.ok else s.message)[:100])
            for case, r, s in evaluations if (r.ok, r.failure) != (s.ok, s.failure)]
    agreed = len(evaluations) - len(rows)
    print(f"\nreal Guix {built_guix.commit[:11]} vs the stand-in at the same commit: "
          f"{len(evaluations)} configs, {agreed} agree, {len(rows)} disagree")
    print(real.table([(c.name, _outcome(r), _outcome(s)) for c, r, s in evaluations],
                     ("config", "real guix", "stand-in")))
    if rows:
        pytest.fail(f"{len(rows)} of {len(evaluations)} configs: the stand-in disagrees with the real "
                    "Guix\n" + real.table(rows, ("config", "real guix", "stand-in", "first error")),
                    pytrace=False)


def test_every_image_derivation_is_a_drv(evaluations):
    """What vmfleet reads from ``-d``: exactly one line, the image's .drv (command.parse_store_path)."""
    from vmfleet.guix import command
    for case, r, _ in evaluations:
        if r.ok:
            drv = command.parse_store_path(r.stdout)
            assert drv and drv.startswith("/gnu/store/") and drv.endswith(".drv"), (case.name, r.stdout)
