"""The fleet commands as a user runs them: exit statuses, --json, saved plans, progress."""

from __future__ import annotations

import json
import re
import types
from pathlib import Path

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.fleet_env import fake_vm, fleet_text
from vmfleet.cli import main
from vmfleet.deploy import vm_access, vm_records

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def vmfleet(fleet, capsys):
    def run(*args):
        code = main(["--home", str(fleet.home.root), *args])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def no_boot(monkeypatch, fleet):
    import vmfleet.build.builds

    def wait(reg, home, vm, host, conn, place, timeout, notify):
        return vm_records.update_vm(reg, vm.name, host_key="ssh-ed25519 KEY")

    monkeypatch.setattr(vm_access, "wait_ssh", wait)
    built = types.SimpleNamespace(image_sha256=fleet.image.sha256, image_path=str(fleet.image.path))
    monkeypatch.setattr(vmfleet.build.builds, "ensure_image", lambda *a, **k: built)


def test_plan_exit_status_and_json(fleet, vmfleet, tmp_path):
    f = tmp_path / "fleet.toml"
    f.write_text(fleet_text([{"name": "web-1", "system": "web"}]))
    code, out, _ = vmfleet("plan", "--file", str(f))
    assert code == 1 and "+ web-1" in out and "create" in out
    fake_vm(fleet.reg, fleet.conn, fleet.home, "web-1", fleet.new, "local")
    code, out, _ = vmfleet("plan", "--file", str(f), "--json")
    data = json.loads(out)
    assert code == 0 and data["exit_code"] == 0 and data["steps"][0]["action"] == "keep"
    assert set(data) >= {"format", "fleet", "fingerprint", "counts", "steps", "unreachable"}
    f.write_text('vm = [ { name = "web-1", system = "web", memroy = "1G" } ]\n')
    code, _, err = vmfleet("plan", "--file", str(f))
    assert code == 2 and f"error: {f}:1: vm 'web-1': unknown key 'memroy'" in err




def test_a_saved_plan_is_applied_or_refused_when_stale(fleet, vmfleet, no_boot, tmp_path):
    f = tmp_path / "fleet.toml"
    f.write_text(fleet_text([{"name": "web-1", "system": "web"}]))
    saved = tmp_path / "p.json"
    assert vmfleet("plan", "--file", str(f), "--out", str(saved))[0] == 1
    f.write_text(fleet_text([{"name": "web-1", "system": "web", "memory": "1G"}]))
    code, _, err = vmfleet("apply", str(saved))
    assert code == 2 and "the fleet file changed since this plan was made" in err
    assert vmfleet("plan", "--file", str(f), "--out", str(saved))[0] == 1
    code, out, err = vmfleet("apply", str(saved))  # no terminal to ask on, no --yes
    assert code == 2 and "applying 1 change needs confirmation" in err and "--yes" in err
    assert json.loads(vmfleet("ps", "--json")[1]) == []
    code, out, err = vmfleet("apply", str(saved), "--yes")
    assert code == 0, err
    assert "web-1: done: created on local" in err  # piped: plain progress lines
    assert "web-1" in out and "done" in out        # the summary table
    apply_id = re.search(r"^apply (a\S+): succeeded", err, re.M).group(1)
    code, out, _ = vmfleet("log", "--apply", apply_id, "--json")
    assert code == 0 and {"apply-create", "apply-end"} <= {e["action"] for e in json.loads(out)}
    code, out, _ = vmfleet("fleet", "applies", "--json")
    assert [a["status"] for a in json.loads(out)] == ["succeeded"]
    assert vmfleet("apply", str(saved), "--yes")[0] == 2  # done already: the state changed since


def test_plan_json_follows_the_documented_schema(fleet, vmfleet, tmp_path):
    import jsonschema

    from tests.helpers.fleet_env import add_test_hosts
    from vmfleet.deploy import hosts

    schema = json.loads((ROOT / "docs" / "plan.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    add_test_hosts(fleet.reg, 1)
    hosts.add(fleet.reg, "dead", "qemu+unix:///system?socket=/nonexistent/sock", verify=False)
    fake_vm(fleet.reg, fleet.conn, fleet.home, "a", fleet.old, "hv1")
    fake_vm(fleet.reg, fleet.conn, fleet.home, "stray", fleet.old, "hv1")
    f = tmp_path / "fleet.toml"
    f.write_text(fleet_text([{"name": "a", "system": "web", "host": "hv1", "tags": ["x"]},
                             {"name": "b", "system": "web@1", "accel": "tcg", "health": "true"},
                             {"name": "c", "system": "web", "host": "dead"}]))
    code, out, _ = vmfleet("plan", "--file", str(f), "--json", "--prune")
    data = json.loads(out)
    assert code == 2
    assert [s["action"] for s in data["steps"]] == ["replace", "create", "unknown", "remove"]
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def test_live_progress_rewrites_one_line_per_vm(capsys):
    from vmfleet.cli.fleet_cmds import Progress

    plan = types.SimpleNamespace(steps=[
        types.SimpleNamespace(name=n, action=types.SimpleNamespace(value=a))
        for n, a in (("web-1", "replace"), ("db", "keep"), ("web-2", "create"))])
    view = Progress(plan, live=True)
    view.update("web-1", "deploying web-1-g3")
    view.update("web-2", "waiting")
    view.update("web-1", "health check: true")
    err = capsys.readouterr().err
    frames = err.split("\x1b[F\x1b[F")  # each redraw first moves up over the two VM lines
    assert len(frames) == 3
    assert frames[-1] == "\x1b[2Kweb-1  health check: true\n\x1b[2Kweb-2  waiting\n"


def test_live_progress_colours_results_as_the_table_does(capsys):
    from vmfleet.cli.fleet_cmds import Progress

    plan = types.SimpleNamespace(steps=[
        types.SimpleNamespace(name=n, action=types.SimpleNamespace(value="create"))
        for n in ("web-1", "web-2")])
    view = Progress(plan, live=True, colour=True)
    view.update("web-1", "deploying web-1 (web@3) on local")
    view.update("web-2", "failed: no image")
    view.update("web-1", "created")
    last = capsys.readouterr().err.split("\x1b[F\x1b[F")[-1]
    assert last == "\x1b[2Kweb-1  \x1b[32mcreated\x1b[0m\n\x1b[2Kweb-2  \x1b[31mfailed: no image\x1b[0m\n"


def test_ps_and_plan_explain_an_interrupted_apply(fleet, vmfleet, tmp_path):
    with fleet.reg.write():
        fleet.reg.execute("INSERT INTO fleet_applies (id, started, status, user, fleet, "
                          "fingerprint, plan) VALUES ('a1', '2024-01-02T00:00:00Z', 'running', "
                          "'root', 'fleet.toml', '', '{}')")
    code, _, err = vmfleet("ps")
    assert code == 0 and "apply a1 was interrupted: 'vmfleet plan' shows what is left" in err
    f = tmp_path / "fleet.toml"
    f.write_text(fleet_text([{"name": "web-1", "system": "web"}]))
    _, _, err = vmfleet("plan", "--file", str(f))
    assert "apply a1 was interrupted; 'vmfleet apply' finishes it" in err
