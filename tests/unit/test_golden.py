"""The one golden-file helper fails on a missing or different file and rewrites only when asked."""

import pytest

from tests.helpers import golden


def test_missing_different_and_rewritten(tmp_path, monkeypatch):
    monkeypatch.setattr(golden, "EXPECTED", tmp_path)
    monkeypatch.delenv(golden.FLAG, raising=False)
    with pytest.raises(pytest.fail.Exception, match="missing"):
        golden.check("x.txt", "one\n")
    assert not (tmp_path / "x.txt").exists()
    (tmp_path / "x.txt").write_text("two\n")
    with pytest.raises(AssertionError, match=golden.FLAG):
        golden.check("x.txt", "one\n")
    monkeypatch.setenv(golden.FLAG, "1")
    golden.check("x.txt", "one\n")
    assert (tmp_path / "x.txt").read_text() == "one\n"
