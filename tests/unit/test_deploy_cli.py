"""The deploy commands as a user runs them (in-process), on libvirt's test:///default driver."""

from __future__ import annotations

import json
import stat
import types

import pytest

from tests.helpers.deploy_env import make_fleet
from vmfleet.cli import main


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


@pytest.fixture
def vm(fleet, capsys, monkeypatch):
    """Run vmfleet against the fleet's home; returns (exit code, stdout, stderr)."""
    import vmfleet.build.builds

    built = types.SimpleNamespace(image_sha256=fleet.image.sha256,
                                  image_path=str(fleet.image.path))
    monkeypatch.setattr(vmfleet.build.builds, "ensure_image", lambda *a, **k: built)

    def run(*args):
        code = main(["--home", str(fleet.home.root), *args])
        out, err = capsys.readouterr()
        return code, out, err

    return run


def test_key_prints_the_public_key_and_keeps_the_private_one_private(vm, fleet):
    code, out, _ = vm("key")
    assert code == 0 and out.startswith("ssh-ed25519 ") and out.endswith(" vmfleet\n")
    private = fleet.home.keys / "id_ed25519"
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert vm("key")[1] == out  # the same key every time


def test_hosts_lists_local_and_added_hosts(vm):
    code, out, _ = vm("hosts", "--json")
    assert code == 0 and [h["name"] for h in json.loads(out)] == ["local"]
    code, _, err = vm("host", "add", "lab", "qemu+ssh://root@hv1/system", "--no-check")
    assert code == 0 and "added host lab" in err
    code, out, _ = vm("hosts")
    lines = out.splitlines()
    assert lines[0].split() == ["HOST", "URI", "KIND", "POOL"]
    assert lines[2].split()[:3] == ["lab", "qemu+ssh://root@hv1/system", "remote"]
    code, _, err = vm("host", "add", "bad", "not-a-uri", "--no-check")
    assert code == 2 and "error: not a libvirt URI" in err and "hint:" in err
    code, _, err = vm("host", "remove", "lab")
    assert code == 0 and [h["name"] for h in json.loads(vm("hosts", "--json")[1])] == ["local"]


def test_deploy_ps_log_destroy(vm, fleet):
    code, out, err = vm("deploy", "web@2023-06", "--name", "web-old", "--no-wait", "--memory",
                        "1G", "--vcpus", "2", "--json")
    assert code == 0, err
    made = json.loads(out)
    assert (made["name"], made["generation"], made["state"]) == ("web-old", "web@1", "running")
    assert (made["memory_mib"], made["vcpus"]) == (1024, 2)
    assert "deployed web-old (web@1) on local, ssh root@127.0.0.1:" in err

    code, out, _ = vm("ps")
    header, row = out.splitlines()[:2]
    assert header.split() == ["VM", "GENERATION", "HOST", "STATE", "UPTIME", "SSH", "RETIRED"]
    assert row.split()[:4] == ["web-old", "web@1", "local", "running"]
    rows = json.loads(vm("ps", "--json")[1])
    assert rows[0]["ssh"] == made["ssh"] and rows[0]["domain_state"] == "running"

    code, _, err = vm("destroy", "web-old")  # no terminal: must be confirmed with --yes
    assert code == 2 and "--yes" in err
    code, _, err = vm("destroy", "web-old", "--yes")
    assert code == 0 and "destroyed VM web-old (web@1)" in err
    assert json.loads(vm("ps", "--json")[1]) == []

    entries = json.loads(vm("log", "--json")[1])
    assert [(e["action"], e["vm"], e["to_generation"]) for e in entries] == [
        ("deploy", "web-old", "web@1"), ("destroy", "web-old", None)]
    code, out, _ = vm("log", "web-old")
    assert out.splitlines()[0].split() == ["WHEN", "(UTC)", "USER", "ACTION", "VM", "FROM", "TO", "DETAIL"]


def test_errors_are_one_line_with_a_hint(vm):
    code, _, err = vm("ssh", "nosuch", "--", "true")
    assert code == 2 and err.startswith("error: no VM named 'nosuch'") and "hint:" in err
    code, _, err = vm("deploy", "web@1999-01", "--no-wait")
    assert code == 2 and "error:" in err
    code, _, err = vm("deploy", "web", "--timeout", "soon")
    assert code == 2 and "invalid duration 'soon' for --timeout" in err
    code, _, err = vm("rollback", "nosuch")
    assert code == 2 and "no VM named" in err


def test_ssh_to_a_stopped_vm_says_start_it(vm):
    vm("deploy", "web", "--no-wait")
    vm("stop", "web", "--force")
    code, _, err = vm("ssh", "web")
    assert code == 2 and "is stopped" in err and "vmfleet start web" in err


def test_host_add_asks_before_trusting_a_remote_hosts_ssh_key(vm, fleet, monkeypatch):
    from tests.helpers.fake_host_sshd import HV_URI, FakeHostSshd
    from vmfleet.tools import ssh, virt

    fake = FakeHostSshd()
    monkeypatch.setattr(ssh, "connect", fake.connect)
    monkeypatch.setattr(virt, "connect",
                        lambda uri, **kw: types.SimpleNamespace(close=lambda: None))
    code, _, err = vm("host", "add", "hv1", HV_URI)
    assert code != 0 and "not a known host" in err and "--trust-new-host" in err
    assert vm("host", "add", "hv1", HV_URI, "--trust-new-host")[0] == 0
    known = ssh.KnownHosts(fleet.home.keys / ssh.KNOWN_HOSTS_FILE)
    assert known.get("hv1.example", 2222) == FakeHostSshd.KEY


def test_the_operation_ps_names_is_the_command_without_global_options():
    from vmfleet.cli import _command_words

    assert _command_words(["--home", "/srv/h", "--debug", "redeploy", "web@2", "--yes"]) == [
        "redeploy", "web@2", "--yes"]
    assert _command_words(["--home=/h", "apply", "--home", "x"]) == ["apply", "--home", "x"]
