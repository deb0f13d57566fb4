import json
import os
from pathlib import Path

import pytest

from tests.helpers.cli import in_process
from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import C_2023_06, V1_4_0
from vmfleet.cli import main

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E k\n"


@pytest.fixture
def vm(tmp_path, capsys):
    """Run vmfleet in-process against a fresh home; returns (exit code, stdout, stderr)."""
    home = tmp_path / "home"
    run = in_process(capsys, home)
    assert run("init")[0] == 0
    return run


def test_import_then_list(vm, git_fleet):  # noqa: F811
    code, out, err = vm("import", str(git_fleet), "--system", "web=systems/web.scm", "--channels", "channels.scm")
    assert code == 0 and "4 new generations" in err
    code, out, _ = vm("systems", "--json")
    systems = json.loads(out)
    assert systems[0]["name"] == "web" and systems[0]["generations"] == 4
    assert systems[0]["channels"] == {"guix": C_2023_06}
    code, out, _ = vm("generations", "web")
    assert code == 0 and out.splitlines()[0].split()[:2] == ["GEN", "CURRENT"]
    assert "+curl" in out and "first generation" in out
    code, out, _ = vm("resolve", "web@2023-10", "--json")
    assert json.loads(out)["generation"] == 2 and json.loads(out)["current_from"] == "2023-10-20T09:30:00Z"
    code, out, _ = vm("show", "web@2023-10", "--config")
    assert '(specification->package "curl")' in out
    code, out, _ = vm("show", "web@1", "--channels")
    assert V1_4_0 in out
    code, out, _ = vm("show", "web@1", "--files", "--json")
    assert json.loads(out)[0]["path"] == "vmfleet.pub"


def test_add_records_once(vm, tmp_path):
    (tmp_path / "web.scm").write_text(os_config("web"))
    (tmp_path / "vmfleet.pub").write_text(KEY)
    (tmp_path / "channels.scm").write_text(channels_scm(V1_4_0))
    args = ("add", "web", str(tmp_path / "web.scm"), "--channels", str(tmp_path / "channels.scm"),
            "--at", "2024-01-15", "-m", "first")
    code, out, err = vm(*args)
    assert code == 0 and "recorded web@1" in err
    code, out, err = vm(*args)
    assert code == 0 and "unchanged" in err


@pytest.mark.parametrize("args,message", [
    (("show", "web@1"), "no system named 'web'"),
    (("show", "../etc"), "invalid generation spec"),
    (("add", "we/b", "x.scm", "--channels", "c.scm"), "invalid system name"),
    (("add", "web", "nope.scm", "--channels", "c.scm"), "not found"),
    (("import", "/nonexistent", "--system", "web=web.scm", "--channels", "c.scm"), "not a directory"),
])
def test_bad_input_is_one_line_error(vm, args, message):
    code, out, err = vm(*args)
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert lines[0].startswith("error: ") and message in lines[0]
    assert lines[1].startswith("hint: ") and len(lines) == 2


def test_malformed_config_gives_location(vm, tmp_path):
    (tmp_path / "web.scm").write_text("(operating-system\n  (host-name \"web\"\n")
    (tmp_path / "channels.scm").write_text(channels_scm(V1_4_0))
    code, _, err = vm("add", "web", str(tmp_path / "web.scm"), "--channels", str(tmp_path / "channels.scm"))
    assert code == 2 and "web.scm:2:3: unclosed" in err


def test_missing_registry(tmp_path, capsys):
    code = main(["--home", str(tmp_path / "none"), "systems"])
    assert code == 2 and "vmfleet init" in capsys.readouterr().err


def test_corrupt_registry(tmp_path, capsys):
    (tmp_path / "registry.db").write_bytes(b"this is not sqlite" * 100)
    code = main(["--home", str(tmp_path), "systems"])
    err = capsys.readouterr().err
    assert code == 2 and ("not a vmfleet registry" in err or "corrupt" in err), err


def test_read_only_registry(git_fleet):  # noqa: F811
    """A registry the user cannot write: a clear error, and nothing recorded."""
    import shutil
    import subprocess
    import sys
    import tempfile

    home = Path(tempfile.mkdtemp(prefix="vmfleet-ro-"))
    try:
        assert main(["--home", str(home), "init"]) == 0
        shutil.copytree(git_fleet, home / "fleet")
        for p in [home, *home.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        argv = [sys.executable, "-m", "vmfleet", "--home", str(home), "import", str(home / "fleet"),
                "--system", "web=systems/web.scm", "--channels", "channels.scm"]
        if os.geteuid() == 0:  # root writes anything: run as nobody, who may only read
            argv = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *argv]
        env = {**os.environ, "HOME": str(home), "GIT_CONFIG_COUNT": "1",
               "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("error: ") and "read-only" in proc.stderr.splitlines()[0]
        assert main(["--home", str(home), "systems", "--json"]) == 0
    finally:
        shutil.rmtree(home)


def test_add_names_the_channels_file_it_could_not_read(vm, tmp_path):
    (tmp_path / "web.scm").write_text(os_config("web", key_file=None))
    (tmp_path / "pins.scm").write_text("(list (channel (name 'guix)\n")
    code, _, err = vm("add", "web", str(tmp_path / "web.scm"), "--channels", str(tmp_path / "pins.scm"))
    assert code == 2 and f"{tmp_path / 'pins.scm'}:1:" in err


def test_add_refuses_a_date_in_the_future(vm, tmp_path):
    (tmp_path / "web.scm").write_text(os_config("web", key_file=None))
    (tmp_path / "channels.scm").write_text(channels_scm(V1_4_0))
    code, _, err = vm("add", "web", str(tmp_path / "web.scm"), "--channels",
                      str(tmp_path / "channels.scm"), "--at", "2099-01-01")
    assert code == 2 and "in the future" in err
    assert vm("systems", "--json")[1].strip() == "[]"
