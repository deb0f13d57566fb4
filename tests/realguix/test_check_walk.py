"""Part 2: ``vmfleet check`` walks from an image derivation to the derivations that make its
bytes (build.builds.byte_making_inputs, through ``guix gc --references``); on the real Guix's
derivation graphs it must find every partition image of the closure, and as many as the
stand-in's graph of the same config has."""

from __future__ import annotations

import pytest

from tests.helpers import real_guix as real
from vmfleet.build.builds import PARTITION_SUFFIX, byte_making_inputs
from vmfleet.guix import command

pytestmark = pytest.mark.realguix


def _walk(side: real.Side, drv: str) -> list[str]:
    refs = side.references(drv)
    assert refs.ok, refs.stderr
    return byte_making_inputs(refs.stdout, lambda d: side.references(d))


def test_the_walk_finds_every_partition_of_real_image_derivations(evaluations, real_guix, standin):
    rows, walked = [], 0
    for case, r, s in evaluations:
        if not r.ok:
            continue
        drv = command.parse_store_path(r.stdout)
        found = _walk(real_guix, drv)
        closure = real_guix.requisites(drv)
        assert closure.ok, closure.stderr
        every = sorted(p for p in command.parse_store_paths(closure.stdout) if p.endswith(PARTITION_SUFFIX))
        walked += 1
        theirs = len(_walk(standin, command.parse_store_path(s.stdout))) if s.ok else None
        if sorted(found) != every or not found or (theirs is not None and theirs != len(found)):
            rows.append((case.name, len(found), len(every), theirs))
    print(f"\nwalked {walked} real image derivations")
    assert walked, "no config evaluated with the real Guix"
    if rows:
        pytest.fail("the walk disagrees with the derivation graph:\n" + real.table(
            rows, ("config", "walk found", "partitions in the closure", "stand-in's walk")), pytrace=False)
