"""Bad input and failures as a sysadmin meets them on the command line.

The rule these tests hold the CLI to: a malformed option, an unknown name, a damaged registry or
an unreachable service gives one ``error: …`` line and a ``hint: …`` line on stderr, exit status
2, no Python traceback, and nothing already recorded is lost.
"""

from __future__ import annotations

import json
import sqlite3

import pytest

from tests.helpers.cli import in_process
from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import V1_4_0
from vmfleet.cli import main

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E k\n"


@pytest.fixture
def home(tmp_path):
    return tmp_path / "home"


@pytest.fixture
def vm(home, capsys):
    """Run vmfleet in-process against a fresh home; returns (exit code, stdout, stderr)."""
    run = in_process(capsys, home)
    assert run("init")[0] == 0
    return run


def assert_error(result, *words):
    """One error line and one hint line, exit 2, no traceback; the error names ``words``."""
    code, _out, err = result
    assert code == 2, err
    assert "Traceback" not in err
    errors = [ln for ln in err.splitlines() if ln.startswith("error: ")]
    hints = [ln for ln in err.splitlines() if ln.startswith("hint: ")]
    assert len(errors) == 1 and len(hints) == 1, err
    for w in words:
        assert w in errors[0], err


@pytest.fixture
def recorded(vm, tmp_path):
    """A home with web@1 recorded by hand."""
    (tmp_path / "web.scm").write_text(os_config("web"))
    (tmp_path / "vmfleet.pub").write_text(KEY)
    (tmp_path / "channels.scm").write_text(channels_scm(V1_4_0))
    code, _, err = vm("add", "web", str(tmp_path / "web.scm"), "--channels",
                      str(tmp_path / "channels.scm"), "--at", "2024-01-15")
    assert code == 0, err
    return vm


# --- a damaged registry ------------------------------------------------------------------------

def _damage_page(db, data: bytes, index: int, page: int) -> None:
    """``db`` as ``data`` with page ``index`` overwritten by garbage."""
    damaged = bytearray(data)
    damaged[index * page:(index + 1) * page] = b"\xde\xad\xbe\xef" * (page // 4)
    db.write_bytes(bytes(damaged))


def test_damaged_registry_is_an_error_not_a_traceback(recorded, home):
    """Whichever page of the registry is damaged, each command either works (it did not need
    that page) or says the registry is corrupt; none shows a traceback."""
    db = home / "registry.db"
    con = sqlite3.connect(db)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    con.close()
    data = db.read_bytes()
    commands = [["systems"], ["generations", "web"], ["show", "web@1", "--config"], ["builds"],
                ["images"], ["hosts"], ["log"], ["checks"]]
    corrupt_seen = 0
    for index in range(1, len(data) // page):
        for args in commands:
            _damage_page(db, data, index, page)
            for extra in ("-wal", "-shm"):
                db.with_name(db.name + extra).unlink(missing_ok=True)
            code, out, err = recorded(*args)
            assert "Traceback" not in err
            if code != 0:
                assert_error((code, out, err), "registry.db", "corrupt")
                corrupt_seen += 1
    assert corrupt_seen


# --- durations ---------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["0", "0s", "-5", "-1m", "nan", "inf"])
def test_build_timeout_must_be_a_positive_duration(recorded, value):
    assert_error(recorded("build", "web@1", f"--timeout={value}"), "duration", value)
    _, out, _ = recorded("builds", "--json")
    assert json.loads(out) == []  # nothing was attempted, so nothing recorded


@pytest.mark.parametrize("value", ["0", "-5"])
def test_check_timeout_must_be_a_positive_duration(recorded, value):
    assert_error(recorded("check", "web@1", f"--timeout={value}"), "duration", value)
    assert json.loads(recorded("checks", "--json")[1]) == []


# --- import paths that match nothing -----------------------------------------------------------

@pytest.mark.parametrize("system,channels,missing", [
    ("web=systems/nosuch.scm", "channels.scm", "systems/nosuch.scm"),
    ("web=systems", "channels.scm", "systems"),
    ("web=systems/web.scm", "nosuch.scm", "nosuch.scm"),
    ("web=systems/nosuch.scm", "nosuch.scm", "nosuch.scm"),
])
def test_import_of_a_path_no_commit_has_is_an_error(vm, git_fleet, system, channels,  # noqa: F811
                                                    missing):
    assert_error(vm("import", str(git_fleet), "--system", system, "--channels", channels), missing)
    assert json.loads(vm("systems", "--json")[1]) == []


def test_import_since_after_the_last_change_still_is_no_error(vm, git_fleet):  # noqa: F811
    args = ("import", str(git_fleet), "--system", "web=systems/web.scm", "--channels", "channels.scm")
    assert vm(*args)[0] == 0
    code, _, err = vm(*args, "--since", "2030-01-01")
    assert code == 0 and "0 new generations" in err


# --- listings of an unknown system -------------------------------------------------------------

def test_checks_of_an_unknown_system_is_an_error(recorded):
    assert_error(recorded("checks", "nosuch"), "nosuch")
    assert_error(recorded("checks", "../x"), "../x")
    assert recorded("checks", "web")[0] == 0


# --- a bad --builder is refused even when the image is cached ----------------------------------

def test_bad_builder_is_refused_before_the_cache_answers(recorded, home):
    from vmfleet.build import builds as build
    from vmfleet.home import Home
    from vmfleet.registry import generations
    from vmfleet.registry.db import Registry

    reg = Registry.open(Home(home).registry)
    gen = generations.list_for(reg, "web")[0]
    key = build.inputs_key(gen, {})
    image = home / "images" / ("0" * 64 + ".qcow2")
    image.write_bytes(b"image")
    with reg.write():
        reg.execute("INSERT INTO images (sha256, size, path, created) VALUES (?,?,?,?)",
                    ("0" * 64, 5, str(image), "2024-01-01T00:00:00Z"))
        reg.execute("INSERT INTO builds (generation_id, inputs_key, builder, command, status,"
                    " image_sha256, image_size, started) VALUES (?,?,?,?,?,?,?,?)",
                    (gen.id, key, "local", "[]", "succeeded", "0" * 64, 5, "2024-01-01T00:00:00Z"))
    reg.close()
    assert recorded("build", "web@1")[0] == 0  # the cache answers
    assert_error(recorded("build", "web@1", "--builder", "ftp://x"), "ftp://x")
    assert_error(recorded("build", "web@1", "--builder", "ssh://"), "ssh://")


# --- hosts -------------------------------------------------------------------------------------

@pytest.mark.parametrize("uri", ["foo://bar/system", "qemu+carrier-pigeon://hv1/system",
                                 "xen:///system"])
def test_host_add_with_an_unknown_scheme_says_so(vm, uri):
    assert_error(vm("host", "add", "lab", uri), "scheme")
    assert_error(vm("host", "add", "lab", uri, "--no-check"), "scheme")
    assert [h["name"] for h in json.loads(vm("hosts", "--json")[1])] == ["local"]


def test_removing_the_local_host_has_a_hint(vm):
    assert_error(vm("host", "remove", "local"), "local")


# --- deploy checks its options before it builds ------------------------------------------------

@pytest.mark.parametrize("args,words", [
    (["--vcpus", "0"], ["--vcpus"]),
    (["--memory", "16M"], ["--memory"]),
    (["--accel", "warp"], ["warp"]),
    (["--name", "../etc"], ["../etc"]),
    (["--host", "nosuch"], ["nosuch"]),
    (["--network", "a/b"], ["a/b"]),
])
def test_deploy_refuses_bad_options_before_building(recorded, monkeypatch, args, words):
    """A typo in an option must not cost a build (hours with real Guix) before it is reported."""
    monkeypatch.setenv("VMFLEET_GUIX", "/nonexistent/guix")  # any build would fail and be recorded
    assert_error(recorded("deploy", "web@1", "--no-wait", *args), *words)
    assert json.loads(recorded("builds", "--json")[1]) == []
    assert json.loads(recorded("ps", "--json")[1]) == []


def test_debug_shows_the_error_a_vmfleet_error_was_raised_from(home, capsys):
    """vmfleet raises its one-line errors ``from None``; --debug still shows what caused them."""
    home.mkdir()
    (home / "registry.db").write_bytes(b"SQLite format 3\x00" + b"\xde\xad" * 2048)
    assert main(["--home", str(home), "systems"]) == 2
    _, err = capsys.readouterr()
    assert "Traceback" not in err and "corrupt" in err
    assert main(["--debug", "--home", str(home), "systems"]) == 2
    _, err = capsys.readouterr()
    assert "sqlite3.DatabaseError" in err and "RegistryError" in err
