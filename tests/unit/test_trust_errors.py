"""A full disk and other operating-system failures say what happened and what to do."""

from __future__ import annotations

import errno
import sqlite3

import pytest

from vmfleet.cli import main
from vmfleet.errors import RegistryError
from vmfleet.registry.db import Registry, _translate


def test_a_full_disk_under_the_registry_says_no_space_left():
    e = _translate(sqlite3.OperationalError("database or disk is full"), None)
    assert isinstance(e, RegistryError)
    assert "no space left" in e.message and "images gc" in e.hint


def test_enospc_anywhere_reaches_the_user_as_no_space_left(tmp_path, monkeypatch, capsys):
    assert main(["--home", str(tmp_path / "h"), "init"]) == 0
    capsys.readouterr()

    def full(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp_path / "h" / "x"))

    monkeypatch.setattr(Registry, "open", full)
    assert main(["--home", str(tmp_path / "h"), "systems"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.splitlines()
    assert lines[0].startswith("error: no space left on the device")
    assert lines[1].startswith("hint: free some space")


def test_a_write_that_hits_a_full_disk_in_sqlite_is_translated(tmp_path, monkeypatch):
    reg = Registry.create(tmp_path / "registry.db")

    class FullConn:
        in_transaction = False

        def execute(self, sql, params=()):
            if sql.startswith("BEGIN"):
                raise sqlite3.OperationalError("database or disk is full")
            return None

    reg.conn = FullConn()
    with pytest.raises(RegistryError, match="no space left"):
        with reg.write():
            pass
