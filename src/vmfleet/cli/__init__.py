"""vmfleet's command line: ``main()`` runs the typer app with one error handler.

Commands signal a non-zero status that is not an error (``diff`` found differences, ``check``
found drift) with ``raise typer.Exit(code)``; errors are VmfleetError and exit 2.
"""

from __future__ import annotations

import click

from ..errors import VmfleetError
from . import registry_cmds  # noqa: F401  (each module registers its commands on ``app``)
from .app import app, report_error, say, state


def main(argv: list[str] | None = None) -> int:
    try:
        result = app(args=argv, prog_name="vmfleet", standalone_mode=False)
    except VmfleetError as e:
        if state.debug:
            import traceback

            traceback.print_exc()
        return report_error(e)
    except click.exceptions.ClickException as e:
        e.show()
        return e.exit_code
    except (click.exceptions.Abort, KeyboardInterrupt):
        say("error: interrupted")
        return 130
    return result if isinstance(result, int) else 0
