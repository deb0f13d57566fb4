"""Copying a file from a build host (build/remote.py): the sh command that looks at it exits 0
whatever it finds, so a missing file is said as such (a failing check_output raised before)."""

from __future__ import annotations

import subprocess

import pytest

from vmfleet.build.remote import RemoteBuilder
from vmfleet.errors import BuildError
from vmfleet.home import Home


class LocalShell:
    """The build host's shell, run here: what ssh.Connection.check_output does there (it raises
    on a non-zero exit, as the real one does)."""

    def check_output(self, argv):
        p = subprocess.run(argv, capture_output=True, text=True)
        if p.returncode:
            raise RuntimeError(f"{argv} exited {p.returncode}")
        return p.stdout

    def download(self, remote, local):
        local.write_bytes(open(remote, "rb").read())


def builder(tmp_path) -> RemoteBuilder:
    b = RemoteBuilder(user="root", host="127.0.0.1", port=22, guix=None, home=Home(tmp_path / "h"))
    b.conn = LocalShell()  # type: ignore[assignment]
    return b


def test_a_missing_or_non_regular_file_is_said(tmp_path):
    b = builder(tmp_path)
    for path in (tmp_path / "gone", tmp_path):
        with pytest.raises(BuildError, match="is not a file on ssh://root@127.0.0.1"):
            b.download_file(str(path), tmp_path / "copy")


def test_a_file_over_the_bound_is_not_copied_and_one_under_is_verified(tmp_path):
    b = builder(tmp_path)
    (tmp_path / "out").write_bytes(b"x" * 2048)
    with pytest.raises(BuildError, match="more than vmfleet copies"):
        b.download_file(str(tmp_path / "out"), tmp_path / "copy", max_bytes=1024)
    assert not (tmp_path / "copy").exists()
    assert b.download_file(str(tmp_path / "out"), tmp_path / "copy").read_bytes() == b"x" * 2048
