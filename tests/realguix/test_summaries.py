"""Part 4: vmfleet's summary of each config (packages, services, users, host name, bootloader:
what `vmfleet show` prints and `diff` compares, read from the text without evaluating it)
against the operating-system record the real Guix evaluates, read through the built Guix's guile
with the same -L (os-record.scm). Every disagreement is listed."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from tests.helpers import real_guix as real
from vmfleet.registry import generations

pytestmark = pytest.mark.realguix
SCRIPT = Path(__file__).with_name("os-record.scm")


def _plain(name: str) -> str:
    """A specification's package name: 'openssl@3' and 'git:send-email' are 'openssl', 'git'."""
    return re.split(r"[@:]", name, maxsplit=1)[0]


def _names(entry: dict) -> set[str]:
    return {entry["name"], *entry["vars"]}


def _summary(case, channels) -> dict:
    inputs = generations.read_inputs(case.file, channels, load_path=case.load_path, cwd=case.cwd,
                                     allow_outside=case.allow_outside)
    return generations.analyse(inputs).summary


def compare(summary: dict, rec: dict) -> list[tuple[str, str]]:
    """(field, what disagrees) for one config. A partial summary (the file's value is computed:
    vmfleet shows what it could read) must hold nothing guix's record lacks, but may miss what
    the computation adds."""
    out = []
    markers = rec["markers"]
    partial = bool(summary.get("partial"))

    def marker_names(name):
        held = markers.get(name)
        return None if held is None else [_names(e) for e in held]

    if summary["host_name"] != rec["host_name"] and not (partial and summary["host_name"] is None):
        out.append(("host name", f"vmfleet {summary['host_name']!r}, guix {rec['host_name']!r}"))
    if summary["bootloader"] not in _names(rec["bootloader"]) and \
            not (partial and summary["bootloader"] is None):
        out.append(("bootloader", f"vmfleet {summary['bootloader']!r}, guix {sorted(_names(rec['bootloader']))}"))

    def one_list(field, written, removed, real_entries, optional=()):
        real_sets = [_names(e) for e in real_entries]
        accounted = [False] * len(real_sets)
        for name in written:
            if name.startswith("%"):
                held = marker_names(name)
                if held is None:
                    out.append((field, f"vmfleet shows {name}, which guix does not export"))
                    continue
                for h in held:
                    hits = [i for i, r in enumerate(real_sets) if r & h]
                    if not hits and not (h & removed):
                        out.append((field, f"{name}'s {min(h)} is not in guix's record"))
                    for i in hits:
                        accounted[i] = True
                continue
            hits = [i for i, r in enumerate(real_sets) if _plain(name) in r or name in r]
            if not hits and name not in optional:
                out.append((field, f"vmfleet shows {name}, guix's record has no such {field[:-1]}"))
            for i in hits:
                accounted[i] = True
        for name in removed:
            if any(name in r for r in real_sets):
                out.append((field, f"vmfleet shows {name} removed, guix's record has it"))
        for i, ok in enumerate(accounted):
            if not ok and not partial:
                out.append((field, f"guix's record has {real_entries[i]['name']}, vmfleet does not show it"))

    # A package in a branch of an `if` is there only on the targets that branch is for.
    conditional = summary.get("packages_conditional", [])
    one_list("packages", [*summary["packages"], *conditional],
             set(summary.get("packages_removed", [])), rec["packages"], optional=set(conditional))
    services = summary["services"]
    # A simple-service's kind is named by its first argument ('NAME), which vmfleet keeps in config.
    simple = [s["config"].split()[0].lstrip("'") for s in services
              if s["kind"] == "simple-service" and s["config"]]
    one_list("services", [*(s["type"] for s in services if s["kind"] not in ("deleted", "other", "simple-service")),
                          *simple],
             {s["type"] for s in services if s["kind"] == "deleted"}, rec["services"])
    one_list("users", summary["users"], set(),
             [{"name": u, "vars": []} for u in rec["users"]])
    return out


def _markers(summary: dict) -> list[str]:
    written = [*summary["packages"], *summary["users"], *(s["type"] for s in summary["services"])]
    return sorted({n for n in written if n.startswith("%")})


def test_summaries_agree_with_the_real_operating_system_records(evaluations, built_guix, real_guix,
                                                               channels, workdir):
    todo, rows = [], []
    for case, r, _ in evaluations:
        if not r.ok:
            continue
        try:
            summary = _summary(case, channels)
        except Exception as e:  # noqa: BLE001 - listed as a disagreement: guix evaluates it
            rows.append((case.name, "summary", f"vmfleet cannot summarise it: {e}"))
            continue
        request = {"cwd": str(case.cwd), "markers": _markers(summary),
                   "load_path": [os.path.abspath(case.cwd / d) for d in case.load_path]}
        if case.expression:
            request["expression"] = case.expression
        else:
            request["file"] = str(case.cwd / case.file)
        todo.append((case, summary, request))
    requests = workdir / "requests.json"
    requests.write_text(json.dumps([t[2] for t in todo]))
    ran = real_guix.run([str(built_guix.tree / "pre-inst-env"), "guix", "repl", "--", str(SCRIPT),
                         str(requests)], real.ROOT)
    assert ran.ok, ran.stderr[-3000:]
    records = json.loads(ran.stdout.strip().splitlines()[-1])
    assert len(records) == len(todo)
    for (case, summary, _), rec in zip(todo, records, strict=True):
        if "error" in rec:
            rows.append((case.name, "record", f"guix's repl could not load it: {rec['error'][:200]}"))
            continue
        rows += [(case.name, what, detail) for what, detail in compare(summary, rec)]
    print(f"\n{len(todo)} summaries compared with guix's records; {len(rows)} disagreements")
    if rows:
        pytest.fail(f"{len(rows)} disagreements between vmfleet's summaries and the real records:\n"
                    + real.table(rows, ("config", "field", "disagreement")), pytrace=False)
