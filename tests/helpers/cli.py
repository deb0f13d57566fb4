"""vmfleet's CLI run in the test's own process, against one home."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from vmfleet.cli import main


def in_process(capsys, home: Path) -> Callable[..., tuple[int, str, str]]:
    """``vm(*args) -> (exit code, stdout, stderr)`` of ``vmfleet --home HOME ARGS``; what was
    printed before the call is not counted."""
    def vm(*args) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(["--home", str(home), *args])
        out, err = capsys.readouterr()
        return code, out, err
    return vm
