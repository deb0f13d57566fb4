"""Bad inputs through the CLI (issue 12, items 1, 2 and the input parts of 9): exit 2, one
``error:`` line and a ``hint:``, no traceback, nothing recorded, and never a hang."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers.fleet import channels_scm, os_config
from tests.helpers.pins import V1_4_0

C1 = V1_4_0
SRC = Path(__file__).resolve().parents[2] / "src"


def vmfleet(home: Path, *args: str, cwd: Path, env: dict | None = None, timeout: float = 60):
    """vmfleet in a child process, so a hang fails the test instead of stopping the suite."""
    full_env = {**os.environ, "PYTHONPATH": str(SRC), **(env or {})}
    return subprocess.run([sys.executable, "-m", "vmfleet", "--home", str(home), *args],
                          cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def setup(tmp_path):
    home = tmp_path / "home"
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "channels.scm").write_text(channels_scm(C1))
    assert vmfleet(home, "init", cwd=repo).returncode == 0
    return home, repo


def refused(home, repo, result, *phrases):
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("error: ") and lines[1].startswith("hint: "), result.stderr
    assert len(lines) == 2 and "Traceback" not in result.stderr
    for phrase in phrases:
        assert phrase in lines[0], lines[0]
    systems = vmfleet(home, "systems", "--json", cwd=repo)
    assert json.loads(systems.stdout) == []


def add(home, repo, config="web.scm", *extra, env=None):
    return vmfleet(home, "add", "web", config, "--channels", "channels.scm", *extra,
                   cwd=repo, env=env, timeout=30)


def test_symlink_leaving_the_config_directory_is_refused(setup, tmp_path):
    home, repo = setup
    secret = tmp_path / "elsewhere" / "shadow"
    secret.parent.mkdir()
    secret.write_text("root:$6$secret:19000:0:99999:7:::\n")
    (repo / "web.scm").write_text(os_config("web", key_file="key.pub"))
    (repo / "key.pub").symlink_to(secret)
    refused(home, repo, add(home, repo), f"{repo}/key.pub is a symlink to {secret}", "outside")


def test_symlink_inside_the_config_directory_is_followed(setup):
    home, repo = setup
    (repo / "keys").mkdir()
    (repo / "keys" / "real.pub").write_text("ssh-ed25519 AAAA k\n")
    (repo / "web.scm").write_text(os_config("web", key_file="key.pub"))
    (repo / "key.pub").symlink_to(repo / "keys" / "real.pub")
    assert add(home, repo).returncode == 0


def test_fifo_local_file_is_refused_without_blocking(setup):
    home, repo = setup
    (repo / "web.scm").write_text(os_config("web", key_file="key.pub"))
    os.mkfifo(repo / "key.pub")
    refused(home, repo, add(home, repo), "a FIFO, not a regular file")


def test_fifo_config_is_refused_without_blocking(setup):
    home, repo = setup
    os.mkfifo(repo / "web.scm")
    refused(home, repo, add(home, repo), "a FIFO")


def test_device_local_file_is_refused(setup):
    home, repo = setup
    (repo / "web.scm").write_text(os_config("web", key_file="/dev/zero"))
    refused(home, repo, add(home, repo, "web.scm", "--allow-outside", "/dev"),
            "/dev/zero is a character device")


def test_socket_local_file_is_refused(setup):
    home, repo = setup
    (repo / "web.scm").write_text(os_config("web", key_file="key.pub"))
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(str(repo / "key.pub"))
        refused(home, repo, add(home, repo), "a socket")
    finally:
        s.close()


def test_oversized_input_is_refused_and_the_limit_is_a_setting(setup):
    home, repo = setup
    (repo / "web.scm").write_text(os_config("web", key_file="key.pub"))
    (repo / "key.pub").write_bytes(b"x" * 3000)
    refused(home, repo, add(home, repo, env={"VMFLEET_MAX_INPUT_SIZE": "2K"}),
            "key.pub is larger than")
    refused(home, repo, add(home, repo, env={"VMFLEET_MAX_GENERATION_SIZE": "3K"}),
            "the inputs add up to more than")
    assert add(home, repo, env={"VMFLEET_MAX_INPUT_SIZE": "4K"}).returncode == 0


def test_nul_bytes_in_a_config_are_refused(setup):
    home, repo = setup
    (repo / "web.scm").write_text(os_config("web", key_file=None).replace('"web"', '"w\0eb"'))
    refused(home, repo, add(home, repo), "NUL byte")


@pytest.mark.parametrize("commit,length", [("8e2f32c", 7), ("a" * 42, 42), ("g" * 40, 40)])
def test_channel_commits_must_be_full_hex_ids(setup, commit, length):
    home, repo = setup
    (repo / "web.scm").write_text(os_config("web", key_file=None))
    (repo / "channels.scm").write_text(channels_scm(commit))
    refused(home, repo, add(home, repo), f"not a full commit id ({length} characters")


def test_adopt_file_outside_the_config_directory_is_refused(setup):
    home, repo = setup
    (repo / "x").write_text("data\n")
    result = vmfleet(home, "adopt", str(repo / "no.qcow2"), "--system", "web",
                     "--file", "../../x=x", cwd=repo)
    refused(home, repo, result, "'../../x': REL must be a path inside")


def test_unresolvable_name_warns_marks_incomplete_and_strict_refuses(setup):
    home, repo = setup
    text = os_config("web", key_file=None).replace(
        "(operating-system", '(define k (local-file (getenv "KEY")))\n(operating-system', 1)
    (repo / "web.scm").write_text(text)
    refused(home, repo, add(home, repo, "web.scm", "--strict"), '(local-file (getenv "KEY"))', "--strict")
    result = add(home, repo)
    assert result.returncode == 0
    assert 'warning: web.scm:' in result.stderr and '(local-file (getenv "KEY"))' in result.stderr
    shown = json.loads(vmfleet(home, "show", "web", "--json", cwd=repo).stdout)
    assert shown["inputs_incomplete"] and "getenv" in shown["warnings"][0]
    gens = vmfleet(home, "generations", "web", cwd=repo).stdout
    assert "[inputs incomplete]" in gens


@pytest.mark.parametrize("body", [
    '(local-file "a\\x00b")',                 # a NUL in the name
    f'(local-file "{"x" * 300}/{"y" * 300}")',  # a name too long for the file system
    "(local-file 42)",                        # not a name at all: a warning, not a crash
    "(local-file)", "(include)", "(use-modules ((me x) #:prefix))",
    '(include "no-such-file.scm")',
])
def test_odd_names_give_an_error_or_a_warning_never_a_traceback(tmp_path, body):
    from vmfleet.errors import VmfleetError
    from vmfleet.registry import generations

    (tmp_path / "web.scm").write_text(body + "\n" + os_config("web", key_file=None))
    (tmp_path / "channels.scm").write_text(channels_scm(C1))
    try:
        generations.read_inputs("web.scm", "channels.scm", cwd=tmp_path)
    except VmfleetError as e:
        assert e.hint


def test_a_file_outside_is_recorded_only_from_a_folder_the_user_names(setup, tmp_path):
    # Issue 22 #2: Guix reads any name a config writes; vmfleet records one from outside the
    # config's folders only with --allow-outside, and keeps that choice with the generation.
    home, repo = setup
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "a.pub").write_text("ssh-ed25519 AAAA outside\n")
    (repo / "web.scm").write_text(os_config("web", key_file=str(keys / "a.pub")))
    refused(home, repo, add(home, repo), f"{keys}/a.pub is outside {repo}")
    assert add(home, repo, "web.scm", "--allow-outside", str(keys)).returncode == 0
    shown = json.loads(vmfleet(home, "show", "web@1", "--json", cwd=repo).stdout)
    assert shown["allow_outside"] == [str(keys)]
    assert [f["path"] for f in shown["files"]] == [f"{keys}/a.pub"]


def test_import_reads_a_file_outside_the_repository_only_from_a_named_folder(setup, tmp_path):
    from tests.helpers.fleet import commit_files, new_repo

    home, _ = setup
    keys = tmp_path / "keys"
    keys.mkdir()
    (keys / "a.pub").write_text("ssh-ed25519 AAAA outside\n")
    repo = new_repo(tmp_path / "git")
    commit_files(repo, {"web.scm": os_config("web", key_file=str(keys / "a.pub")),
                        "channels.scm": channels_scm(C1)}, "one", "2024-01-01T00:00:00Z")
    args = ("import", str(repo), "--system", "web=web.scm", "--channels", "channels.scm")
    first = vmfleet(home, *args, cwd=tmp_path)
    assert first.returncode == 2 and "none of its 1 commits could be read" in first.stderr
    again = vmfleet(home, *args, "--allow-outside", "keys", cwd=tmp_path)
    assert again.returncode == 0, again.stderr
    shown = json.loads(vmfleet(home, "show", "web@1", "--json", cwd=repo).stdout)
    assert shown["allow_outside"] == [str(keys)]
