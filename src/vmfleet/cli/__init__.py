"""vmfleet's command line: ``main()`` runs the typer app with one error handler.

Commands signal a non-zero status that is not an error (``diff`` found differences, ``check``
found drift) with ``raise typer.Exit(code)``; errors are VmfleetError and exit 2, as do usage
errors that typer reports itself. A question answered no (cli/confirm.py) exits 1 quietly.
"""

from __future__ import annotations

import errno
import os
import signal
import sys

import typer
from typer._click import exceptions as click_errors  # typer's own copy of Click's errors

from vmfleet.errors import UsageError, VmfleetError
from vmfleet.home import UMASK

# Each module registers its commands on ``app`` when imported; --help lists them in this order,
# which follows the workflow: record, build, run, look back.
# isort: off
from vmfleet.cli import (registry_cmds, build_cmds, deploy_cmds, diff_cmds, fleet_cmds,  # noqa: F401
                         report_cmds, schedule_cmds)
# isort: on
from vmfleet.cli import help
from vmfleet.cli.app import app, report_error, say, state  # noqa: F401 (app: for callers)
from vmfleet.cli.confirm import Declined


def _sigterm(signum, frame):
    raise KeyboardInterrupt  # end builds and deploys the same way Ctrl-C does


def main(argv: list[str] | None = None) -> int:
    from vmfleet.tools import locks

    signal.signal(signal.SIGTERM, _sigterm)
    old_umask = os.umask(UMASK)  # private by default: what vmfleet writes is its user's alone
    old_operation = locks.operation
    try:
        return _main(argv)
    finally:
        os.umask(old_umask)  # (for callers that run main() in-process, like the tests)
        locks.operation = old_operation


def _main(argv: list[str] | None) -> int:
    from vmfleet.tools import locks

    words = list(sys.argv[1:] if argv is None else argv)
    locks.operation = " ".join(["vmfleet", *_command_words(words)])[:200]
    try:
        # Not standalone: Click's own usage errors come here and go through the one handler.
        if words[:1] == ["__complete"]:  # what the shell completion scripts call
            from vmfleet.cli import completion

            return completion.answer(words[1:])
        code = help.command().main(args=words, prog_name="vmfleet", standalone_mode=False)
        code = code if isinstance(code, int) else 0
    except click_errors.NoArgsIsHelpError as e:
        e.show()
        return e.exit_code
    except click_errors.ClickException as e:
        ctx = getattr(e, "ctx", None)
        command = ctx.command_path if ctx else "vmfleet"
        return report_error(UsageError(e.format_message().replace("\n", " "),
                                       f"see '{command} --help'"))
    except Declined:
        say("nothing was changed")
        return 1
    except (typer.Abort, KeyboardInterrupt):
        code = 130
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except VmfleetError as e:
        if state.debug:
            print_with_causes(e)
        return report_error(e)
    except OSError as e:
        if state.debug:
            print_with_causes(e)
        return report_error(os_error(e))
    if code == 130:  # typer's exit for Ctrl-C (and SIGTERM, see _sigterm)
        say("error: interrupted")
        say("hint: a build under way is recorded as 'interrupted'; 'vmfleet ps' explains a deploy cut short")
    return code


def print_with_causes(e: BaseException) -> None:
    """The traceback for --debug, with what led to it: vmfleet raises its errors ``from None``
    so users see one line, but a developer asking for --debug wants the original error too."""
    import traceback

    seen, cur = set(), e
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        cur.__suppress_context__ = False
        cur = cur.__cause__ or cur.__context__
    traceback.print_exception(e)


def os_error(e: OSError) -> VmfleetError:
    """An operating-system failure vmfleet did not foresee, as one error that names the fix."""
    where = f" ({e.filename})" if e.filename else ""
    if e.errno == errno.ENOSPC:
        return VmfleetError(f"no space left on the device{where}",
                            "free some space (vmfleet images gc removes unused images), then run "
                            "the command again")
    if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return VmfleetError(f"permission denied{where}: {e.strerror}",
                            "run vmfleet as a user who can write its home, or pass another --home")
    return VmfleetError(f"{e.strerror or e}{where}", "run with --debug for details")


def _command_words(words: list[str]) -> list[str]:
    """The command and its arguments without the global options (--home DIR, --debug), for the
    lock files that ps reads ('vmfleet redeploy web@2')."""
    out: list[str] = []
    skip = False
    for i, w in enumerate(words):
        if skip:
            skip = False
            continue
        if not out and w == "--home":
            skip = True
            continue
        if not out and (w.startswith("--home=") or w == "--debug"):
            continue
        out = words[i:]
        break
    return out
