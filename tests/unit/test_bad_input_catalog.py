"""The bad-input catalog of issue 12, run through the CLI: each case exits 2 with one 'error:'
line, no traceback, and records nothing (no VM row, audit entry, overlay or generation)."""

from __future__ import annotations

import os
import shlex
import signal
import socket
import subprocess
import types
from pathlib import Path

import pytest

from tests.helpers.deploy_env import make_fleet
from tests.helpers.pins import V1_4_0
from vmfleet.cli import main
from vmfleet.tools.run import run

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture
def fleet(tmp_path, monkeypatch):
    import vmfleet.build.builds

    for f in make_fleet(tmp_path, monkeypatch):
        built = types.SimpleNamespace(image_sha256=f.image.sha256, image_path=str(f.image.path))
        f.builds = []

        def ensure_image(*a, built=built, f=f, **k):
            f.builds.append(a)
            return built

        monkeypatch.setattr(vmfleet.build.builds, "ensure_image", ensure_image)
        yield f


def _full_port_range(fleet, monkeypatch, tmp_path):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))  # held: the one port of the range is taken
    monkeypatch.setenv("VMFLEET_PORT_RANGE", f"{s.getsockname()[1]}-{s.getsockname()[1]}")
    return s


def _backed_image(fleet, monkeypatch, tmp_path):
    base = tmp_path / "base.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"])
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
         str(tmp_path / "evil.qcow2")])


def _store_named_link(fleet, monkeypatch, tmp_path):
    """Issue 22 #1: a folder called images/ outside every home, holding a link named like a
    store image to a host file (here a raw disk, which inspect would report on)."""
    secret = tmp_path / "secret.raw"
    run(["qemu-img", "create", "-q", "-f", "raw", str(secret), "16M"])
    run(["sfdisk", "-q", str(secret)], input="label: dos\n,,83\n")
    (tmp_path / "fake" / "images").mkdir(parents=True)
    link = tmp_path / "fake" / "images" / ("0" * 63 + "2.qcow2")
    link.symlink_to(secret)
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(link), "-u",
         str(tmp_path / "fakedisk.qcow2"), "16M"])


def _unrecorded_store_file(fleet, monkeypatch, tmp_path):
    """A regular file in this home's images/, named like a store image, that the registry
    never recorded (the fixture's tiny image is such a file)."""
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
         str(fleet.image.path), str(tmp_path / "overlay.qcow2")])


def _link_into_the_store(fleet, monkeypatch, tmp_path):
    """A store image that is recorded, but named through a link from another images/ folder,
    and a second recorded name that is itself a link to a host file."""
    from vmfleet.build import store

    store.register(fleet.reg, store.StoredImage(fleet.image.sha256, 1, fleet.image.path))
    secret = tmp_path / "secret"
    secret.write_text("root:x:0:0\n")
    sha = "f" * 64
    (fleet.home.images / f"{sha}.qcow2").symlink_to(secret)
    store.register(fleet.reg, store.StoredImage(sha, 1, fleet.home.images / f"{sha}.qcow2"))
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
         str(fleet.home.images / f"{sha}.qcow2"), "-u", str(tmp_path / "overlay.qcow2"), "16M"])


def _config_dir(tmp_path, config: str, files: dict[str, str] | None = None) -> Path:
    from tests.helpers.fleet import channels_scm

    cfg = tmp_path / "cfg"
    cfg.mkdir(exist_ok=True)
    (cfg / "channels.scm").write_text(channels_scm(V1_4_0))
    (cfg / "web.scm").write_text(config)
    for name, text in (files or {}).items():
        (cfg / name).write_text(text)
    return cfg


def _absolute_local_file(fleet, monkeypatch, tmp_path):
    """Issue 22 #2: (local-file "/etc/shadow"), here a secret of the test's own."""
    from tests.helpers.fleet import os_config

    (tmp_path / "secret").write_text("root:$6$x:19000:0:99999:7:::\n")
    _config_dir(tmp_path, os_config("web", key_file=str(tmp_path / "secret")))


def _dotdot_local_file(fleet, monkeypatch, tmp_path):
    from tests.helpers.fleet import os_config

    (tmp_path / "secret").write_text("root:$6$x:19000:0:99999:7:::\n")
    _config_dir(tmp_path, os_config("web", key_file="../secret"))


def _link_out_of_one_folder(fleet, monkeypatch, tmp_path):
    """Issue 22 #14: the config and the channels file share a folder (named once)."""
    from tests.helpers.fleet import os_config

    (tmp_path / "secret").write_text("x\n")
    cfg = _config_dir(tmp_path, os_config("web", key_file="key.pub"))
    (cfg / "key.pub").symlink_to(tmp_path / "secret")


def _repo(tmp_path, config: str) -> None:
    from tests.helpers.fleet import channels_scm, commit_files, new_repo

    repo = new_repo(tmp_path / "repo")
    commit_files(repo, {"web.scm": config, "channels.scm": channels_scm(V1_4_0),
                        "vmfleet.pub": "ssh-ed25519 AAAA k\n"}, "one", "2024-01-01T00:00:00Z")


def _unreadable_history(fleet, monkeypatch, tmp_path):
    """Issue 22 #11: every commit of the history fails to read."""
    _repo(tmp_path, "(operating-system (host-name \"web\"")


def _history_with_absolute_local_file(fleet, monkeypatch, tmp_path):
    from tests.helpers.fleet import os_config

    (tmp_path / "secret").write_text("root:$6$x:19000:0:99999:7:::\n")
    _repo(tmp_path, os_config("web", key_file=str(tmp_path / "secret")))


def _fifo_fleet_file(fleet, monkeypatch, tmp_path):
    """Issue 22 #3: read, a FIFO blocks until someone writes to it (never, here)."""
    os.mkfifo(tmp_path / "f.toml")


def _deep_fleet_file(fleet, monkeypatch, tmp_path):
    """Issue 22 #4: 50,000 nested arrays made tomllib raise RecursionError (a traceback)."""
    (tmp_path / "deep.toml").write_text("vm = " + "[" * 50_000 + "]" * 50_000 + "\n")


def _deep_fleet_file_in_a_string(fleet, monkeypatch, tmp_path):
    """The same nesting, behind a multi-line string the line scanner does not follow."""
    (tmp_path / "deep.toml").write_text('x = """\n"""\nvm = ' + "[" * 50_000 + "]" * 50_000 + "\n")


def _huge_fleet_file(fleet, monkeypatch, tmp_path):
    """Issue 22 #10: a 50 MB fleet file was planned (here 2 MiB of comment)."""
    (tmp_path / "big.toml").write_text('vm = [ { name = "web-1", system = "web" } ]\n'
                                       + ("#" * 1023 + "\n") * 2048)


def _huge_config(fleet, monkeypatch, tmp_path):
    """Issue 22 #10: a 10 MB config (one comment) was recorded."""
    from tests.helpers.fleet import os_config

    _config_dir(tmp_path, os_config("web", key_file=None) + (";" + "x" * 1023 + "\n") * 5 * 1024)


def _fifo_image(fleet, monkeypatch, tmp_path):
    """Issue 22 #5: an image that is a FIFO held qemu-img for its 30 s timeout."""
    os.mkfifo(tmp_path / "pipe.qcow2")


def _absurd_memory_in_the_fleet(fleet, monkeypatch, tmp_path):
    """Issue 22 #9: plan showed memory = "99999999999G" as a create; apply then failed."""
    (tmp_path / "fleet.toml").write_text('vm = [\n  { name = "web-1", system = "web" },\n'
                                         '  { name = "web-2", system = "web", '
                                         'memory = "99999999999G" },\n]\n')


def _deep_config(fleet, monkeypatch, tmp_path):
    """Parser recursion is capped for Scheme too (guix/reader.py)."""
    _config_dir(tmp_path, "(operating-system " + "(" * 50_000 + ")" * 50_001 + "\n")


def _empty_registry(fleet, monkeypatch, tmp_path):
    fleet.reg.close()
    for suffix in ("", "-wal", "-shm"):
        p = fleet.home.root / f"registry.db{suffix}"
        if p.exists():
            p.unlink()
    fleet.home.registry.write_bytes(b"")


def _foreign_registry(fleet, monkeypatch, tmp_path):
    _empty_registry(fleet, monkeypatch, tmp_path)
    fleet.home.registry.write_text("my notes\n")


CASES = {
    "click usage error (add -web)": (None, ["add", "-web"]),
    "date in the future": (None, ["resolve", "web@2999-01"]),
    "no such libvirt network": (None, ["deploy", "web@1", "--network", "nosuchnet"]),
    "absurd memory": (None, ["deploy", "web@1", "--memory", "99999999G"]),
    "full port range": (_full_port_range, ["deploy", "web@1", "--no-wait"]),
    "image with a backing file": (_backed_image, ["inspect", "{tmp}/evil.qcow2"]),
    "backing file: store-named link to a host disk": (
        _store_named_link, ["inspect", "{tmp}/fakedisk.qcow2"], "has a backing file"),
    "backing file: store-named link, diff": (
        _store_named_link, ["diff", "{tmp}/fakedisk.qcow2", "web@1"], "has a backing file"),
    "backing file: store-named link, adopt": (
        _store_named_link, ["adopt", "{tmp}/fakedisk.qcow2", "--system", "x"],
        "has a backing file"),
    "backing file: a store file the registry never recorded": (
        _unrecorded_store_file, ["inspect", "{tmp}/overlay.qcow2"], "has a backing file"),
    "backing file: a recorded name that links to a host file": (
        _link_into_the_store, ["inspect", "{tmp}/overlay.qcow2"], "has a backing file"),
    "add: absolute local-file": (
        _absolute_local_file, ["add", "web", "{tmp}/cfg/web.scm", "--channels",
                               "{tmp}/cfg/channels.scm"],
        "{tmp}/secret is outside {tmp}/cfg\n", "--allow-outside {tmp}"),
    "add: ../ local-file": (
        _dotdot_local_file, ["add", "web", "{tmp}/cfg/web.scm", "--channels",
                             "{tmp}/cfg/channels.scm"], "{tmp}/secret is outside {tmp}/cfg"),
    "add: --allow-outside that is no folder": (
        _absolute_local_file, ["add", "web", "{tmp}/cfg/web.scm", "--channels",
                               "{tmp}/cfg/channels.scm", "--allow-outside", "{tmp}/secret"],
        "not a directory"),
    "add: a link out of one folder named once": (
        _link_out_of_one_folder, ["add", "web", "{tmp}/cfg/web.scm", "--channels",
                                  "{tmp}/cfg/channels.scm"],
        "{tmp}/cfg/key.pub is a symlink to {tmp}/secret, which is outside {tmp}/cfg\n"),
    "import: no commit readable": (
        _unreadable_history, ["import", "{tmp}/repo", "--system", "web=web.scm", "--channels",
                              "channels.scm"], "web: none of its 1 commits could be read"),
    "import: absolute local-file": (
        _history_with_absolute_local_file, ["import", "{tmp}/repo", "--system", "web=web.scm",
                                            "--channels", "channels.scm"],
        "is outside the repository", "none of its 1 commits could be read"),
    "spec: an Arabic-Indic digit": (None, ["resolve", "web@\u0661"], "invalid generation spec"),
    "spec: a trailing newline": (None, ["resolve", "web@1\n"], "invalid generation spec"),
    "spec: a system name with a trailing newline": (None, ["resolve", "web\n"]),
    "spec: a date in another script's digits": (None, ["resolve", "web@2023-1\u0660"]),
    "memory in another script's digits": (None, ["deploy", "web@1", "--memory", "\u0665\u0661\u0662M"]),
    "fleet file: a FIFO": (_fifo_fleet_file, ["plan", "--file", "{tmp}/f.toml"],
                           "is a FIFO, not a regular file"),
    "fleet file: a FIFO, apply": (_fifo_fleet_file, ["apply", "--file", "{tmp}/f.toml"],
                                  "is a FIFO, not a regular file"),
    "fleet file: nested 50,000 deep": (_deep_fleet_file, ["plan", "--file", "{tmp}/deep.toml"],
                                        "nested more than 100 deep"),
    "fleet file: nested deep after a multi-line string": (
        _deep_fleet_file_in_a_string, ["plan", "--file", "{tmp}/deep.toml"], "nested"),
    "fleet file: 2 MiB": (_huge_fleet_file, ["plan", "--file", "{tmp}/big.toml"],
                          "larger than 1 MiB"),
    "add: a 5 MiB config": (_huge_config, ["add", "web", "{tmp}/cfg/web.scm", "--channels",
                                           "{tmp}/cfg/channels.scm"], "larger than 4 MiB"),
    "image: a FIFO, inspect": (_fifo_image, ["inspect", "{tmp}/pipe.qcow2"], "is a FIFO"),
    "image: a FIFO, diff": (_fifo_image, ["diff", "{tmp}/pipe.qcow2", "web@1"], "is a FIFO"),
    "image: a FIFO, adopt": (_fifo_image, ["adopt", "{tmp}/pipe.qcow2", "--system", "x"],
                             "is a FIFO"),
    "image: a character device": (None, ["inspect", "/dev/zero"], "is a character device"),
    "plan: more memory than the host has": (
        _absurd_memory_in_the_fleet, ["plan", "--file", "{tmp}/fleet.toml"],
        "fleet.toml:3: vm 'web-2': memory 102399999998976 MiB is more than host local has"),
    "apply: more memory than the host has": (
        _absurd_memory_in_the_fleet, ["apply", "--file", "{tmp}/fleet.toml"],
        "memory 102399999998976 MiB is more than host local has"),
    "add: a config nested 50,000 deep": (_deep_config, ["add", "web", "{tmp}/cfg/web.scm",
                                                         "--channels", "{tmp}/cfg/channels.scm"]),
    "zero-length registry": (_empty_registry, ["systems"]),
    "foreign file as registry": (_foreign_registry, ["systems"]),
    "init on an impossible home": (None, ["--home", "/proc/vmfleet-nope", "init"]),
    "key on an impossible home": (None, ["--home", "/proc/vmfleet-nope", "key"]),
    "init where the home is a file": (None, ["--home", "{tmp}/file", "init"]),
}


def _hung(signum, frame):
    raise TimeoutError("still waiting after 60 s")


@pytest.mark.parametrize("case", CASES)
def test_bad_input(case, fleet, monkeypatch, tmp_path, capsys):
    prepare, argv, *expect = CASES[case]
    (tmp_path / "file").write_text("x")
    held = prepare(fleet, monkeypatch, tmp_path) if prepare else None
    registry_before = fleet.home.registry.read_bytes() if fleet.home.registry.exists() else None
    overlays_before = sorted(os.listdir(fleet.home.overlays))
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    if argv[0] != "--home":
        argv = ["--home", str(fleet.home.root), *argv]
    signal.signal(signal.SIGALRM, _hung)
    signal.alarm(60)  # a case that hangs (a FIFO read) fails instead of stopping the suite
    try:
        code = main(argv)
    finally:
        signal.alarm(0)
        if held is not None:
            held.close()
    _out, err = capsys.readouterr()
    assert code == 2, err
    assert "Traceback" not in err and "None" not in err, err
    assert len([ln for ln in err.splitlines() if ln.startswith("error: ")]) == 1, err
    assert not [ln for ln in err.splitlines() if ln.startswith("Error")], err
    for words in expect:
        assert words.replace("{tmp}", str(tmp_path)) in err, err
    assert sorted(os.listdir(fleet.home.overlays)) == overlays_before
    assert fleet.builds == []  # refused before a build (issue 22 #9: memory, network)
    if registry_before is not None and case.startswith(("zero", "foreign")):
        assert fleet.home.registry.read_bytes() == registry_before  # never replaced
    elif fleet.home.registry.exists() and not case.startswith(("zero", "foreign")):
        reg = fleet.reg
        assert reg.query_one("SELECT count(*) AS n FROM vms")["n"] == 0
        assert reg.query_one("SELECT count(*) AS n FROM audit")["n"] == 0
        assert reg.query_one("SELECT count(*) AS n FROM generations")["n"] == 2


# --- homes on a read-only or full file system (issue 22 #7) --------------------------------
# Through a private mount namespace (unshare -m, as root): the home is bind-mounted read-only,
# or lives on a 2 MiB tmpfs filled to the last block. vmfleet runs in a child process.

def _in_namespace(script: str, tmp_path) -> subprocess.CompletedProcess:
    import shutil
    import sys

    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a private mount")
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    vmfleet = f"{shlex.quote(sys.executable)} -m vmfleet --home"
    proc = subprocess.run(["unshare", "-m", "sh", "-c", script.replace("VMFLEET", vmfleet)],
                          capture_output=True, text=True, timeout=120, env=env)
    if "mount:" in proc.stderr and "permission denied" in proc.stderr.lower():
        pytest.skip("mounts are not allowed here")
    return proc


def test_a_read_only_home_is_read_and_a_write_is_refused_naming_it(tmp_path):
    main(["--home", str(tmp_path / "home"), "init"])
    proc = _in_namespace(
        f"mount --bind {tmp_path} {tmp_path} && mount -o remount,bind,ro {tmp_path} && "
        f"VMFLEET {tmp_path}/home systems --json && VMFLEET {tmp_path}/home log && "
        f"VMFLEET {tmp_path}/home generations web; "
        f"VMFLEET {tmp_path}/home host add h1 test:///default", tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.stdout.startswith("[]"), out  # systems and log read it
    assert "unable to open database file" not in out, out
    assert "error: no system named 'web'" in proc.stderr, out
    assert f"error: {tmp_path}/home/registry.db is on a read-only file system" in proc.stderr, out
    assert proc.returncode == 2 and "Traceback" not in out


def test_a_full_disk_is_named_as_such_and_the_listings_still_read(tmp_path):
    """SQLite cannot make its WAL index (-shm) on a full disk: a registry whose WAL is empty (every
    vmfleet command checkpoints it when it ends) is then read as an immutable file."""
    (tmp_path / "fs").mkdir()
    proc = _in_namespace(
        f"mount -t tmpfs -o size=2m tmpfs {tmp_path}/fs && "
        f"VMFLEET {tmp_path}/fs/home init && "
        f"dd if=/dev/zero of={tmp_path}/fs/fill bs=4k 2>/dev/null; "
        f"VMFLEET {tmp_path}/fs/home systems --json && "
        f"VMFLEET {tmp_path}/fs/home host add h1 test:///default",
        tmp_path)
    out = proc.stdout + proc.stderr
    assert proc.stdout.startswith("[]"), out
    assert f"error: no space left on the device of {tmp_path}/fs/home/registry.db" in out, out
    assert "disk I/O error" not in out and "--debug" not in out, out
    assert proc.returncode == 2 and "Traceback" not in out
