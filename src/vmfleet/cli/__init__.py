"""vmfleet's command line: ``main()`` runs the typer app with one error handler.

Commands signal a non-zero status that is not an error (``diff`` found differences, ``check``
found drift) with ``raise typer.Exit(code)``; errors are VmfleetError and exit 2, as do usage
errors that typer reports itself.
"""

from __future__ import annotations

import signal

from vmfleet.errors import VmfleetError

# Each module registers its commands on ``app`` when imported; --help lists them in this order,
# which follows the workflow: record, build, run, look back.
# isort: off
from vmfleet.cli import registry_cmds, build_cmds, deploy_cmds, diff_cmds, fleet_cmds  # noqa: F401
# isort: on
from vmfleet.cli.app import app, report_error, say, state


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # end builds and deploys the same way Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _sigterm)
    try:
        app(args=argv, prog_name="vmfleet")  # standalone: usage errors exit through SystemExit
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
        if code == 130:  # typer's exit for Ctrl-C (and SIGTERM, see _sigterm)
            say("error: interrupted")
            say("hint: a build under way is recorded as 'interrupted'; 'vmfleet ps' explains a deploy cut short")
        return code
    except VmfleetError as e:
        if state.debug:
            import traceback

            traceback.print_exc()
        return report_error(e)
    return 0
