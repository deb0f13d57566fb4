"""vmfleet's command line: ``main()`` runs the typer app with one error handler.

Commands signal a non-zero status that is not an error (``diff`` found differences, ``check``
found drift) with ``raise typer.Exit(code)``; errors are VmfleetError and exit 2, as do usage
errors that typer reports itself.
"""

from __future__ import annotations

from ..errors import VmfleetError
from . import registry_cmds  # noqa: F401  (each module registers its commands on ``app``)
from .app import app, report_error, state


def main(argv: list[str] | None = None) -> int:
    try:
        app(args=argv, prog_name="vmfleet")  # standalone: usage errors exit through SystemExit
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except VmfleetError as e:
        if state.debug:
            import traceback

            traceback.print_exc()
        return report_error(e)
    return 0
