"""One CLI vocabulary: a duration, a size, a date or a colour choice is read by the same grammar
and refused with the same words by every command that takes one (docs/reference.md, "Values")."""

from __future__ import annotations

import io
import json

import pytest
import typer.main

from tests.helpers.fleet import channels_scm, commit_files, new_repo, os_config
from tests.helpers.pins import C_2023_03, V1_4_0
from vmfleet import timeutil, units
from vmfleet.cli import app, main
from vmfleet.cli.output import Progress, print_table
from vmfleet.errors import UsageError

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E k\n"

# Every option that takes one of the shared value types, by flag, and the metavar it must show.
KINDS = {"--timeout": "DURATION", "--since": "DATE", "--at": "DATE", "--current-from": "DATE",
         "--memory": "SIZE", "--image-size": "SIZE", "--color": "WHEN"}


def options_by_flag():
    """(command, option) for every option in the CLI, groups walked."""
    out = []

    def walk(group, prefix):
        for name, cmd in sorted(group.commands.items()):
            out.extend((cmd, p) for p in cmd.params if p.param_type_name == "option")
            if hasattr(cmd, "commands"):
                walk(cmd, f"{prefix}{name} ")

    walk(typer.main.get_command(app), "")
    return out


def typed_options(metavar: str):
    return [(cmd, p) for cmd, p in options_by_flag() if p.metavar == metavar]


def ids(pairs):
    return [f"{cmd.name} {p.opts[0]}" for cmd, p in pairs]


def parsed(cmd, param, value):
    """The value the command would receive for ``param`` given as ``value`` (arguments parsed
    and converted the way a run does, without running the command)."""
    args = [param.opts[0], value]
    for p in cmd.params:
        if p.required:
            args += ["x"] if p.param_type_name == "argument" else [p.opts[0], "x=y"]
    ctx = cmd.make_context(cmd.name, args)
    return ctx.params[param.name]


# --- the grammars ------------------------------------------------------------------------------

@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("1.5m", 90), ("5m", 300),
                                           ("3h", 10800), ("0.5", 0.5)])
def test_durations(text, seconds):
    assert timeutil.parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0", "0s", "-5", "+5", "1e3", "nan", "inf", "5 m", "5min",
                                  "1h30m", "5d"])
def test_bad_durations(text):
    with pytest.raises(UsageError, match="invalid duration") as e:
        timeutil.parse_duration(text)
    assert "90s" in e.value.hint


@pytest.mark.parametrize("text, size", [("4G", 4 * 2**30), ("4GiB", 4 * 2**30), ("4096M", 4 * 2**30),
                                        ("5GB", 5 * 10**9), ("100kB", 100_000), ("1k", 1024),
                                        ("1.5G", 3 * 2**29), ("1073741824", 2**30),
                                        # guix/ui.scm@43770a9d8ac:663-673: the number is what
                                        # Guile's string->number reads up to the last digit or dot
                                        (".5G", 2**29), ("1.G", 2**30), ("1e3", 1000),
                                        ("2e1M", 20 * 2**20), ("1/2G", 2**29),
                                        ("1P", 2**50), ("1PiB", 2**50), ("1EB", 10**18)])
def test_sizes_follow_guix_size_to_number(text, size):
    assert units.parse_size(text) == size


@pytest.mark.parametrize("text", ["", "4 G", "4Gi", "4KB", "4X", "-1", "0", "0M", "G", "1.5.G",
                                  "1_000", "1e", "e3", "nan", "inf", ".G"])
def test_bad_sizes(text):
    with pytest.raises(UsageError, match="invalid size"):
        units.parse_size(text)


def test_image_sizes_as_a_guix_older_than_fa99c4bbc7a_reads_them():
    """Before fa99c4bbc7a (2020-02-23) the unit started after the last digit: ``1.G`` was refused
    (docs/guix-facts.md S1); ``.5G`` and ``1.5G`` were read as now."""
    from vmfleet.guix import command

    for text in ("4G", ".5G", "1.5G", "1e3"):
        assert command.check_image_size(text, unit_after_dot=False) == text
    assert command.check_image_size("1.G") == "1.G"
    with pytest.raises(UsageError, match="at this pin: its guix reads the unit after the last digit") as e:
        command.check_image_size("1.G", unit_after_dot=False)
    assert "1G, not 1.G" in e.value.hint


@pytest.mark.parametrize("text, stamp", [
    ("2024-01", "2024-01-01T00:00:00Z"), ("2024-01-15", "2024-01-15T00:00:00Z"),
    ("2024-01-15T12:00", "2024-01-15T12:00:00Z"), ("2024-01-15 12:00:30", "2024-01-15T12:00:30Z"),
    ("2024-01-15T12:00Z", "2024-01-15T12:00:00Z"), ("2024-01-15T12:00+02:00", "2024-01-15T10:00:00Z"),
])
def test_dates(text, stamp):
    assert timeutil.parse_date(text) == stamp


@pytest.mark.parametrize("text", ["", "2024", "2024-13", "2024-02-30", "20240115", "2024-W03",
                                  "2024-01-15T12", "yesterday", "2024-01-15T25:00"])
def test_bad_dates(text):
    with pytest.raises(UsageError, match="invalid date"):
        timeutil.parse_date(text)


# --- every command reads them alike ------------------------------------------------------------

def test_each_value_option_uses_the_shared_type():
    """A new --timeout (or --since, ...) declared as a plain string would fail here."""
    wrong = [f"{cmd.name} {flag}" for cmd, p in options_by_flag() for flag in p.opts
             if flag in KINDS and p.metavar != KINDS[flag]]
    assert not wrong, f"options not made by vmfleet.cli.options: {wrong}"
    assert len(typed_options("DURATION")) >= 6 and len(typed_options("DATE")) >= 4


@pytest.mark.parametrize("cmd, param", typed_options("DURATION"), ids=ids(typed_options("DURATION")))
def test_every_duration_option_reads_the_same(cmd, param):
    assert parsed(cmd, param, "1.5m") == 90
    with pytest.raises(UsageError) as e:
        parsed(cmd, param, "1e3")
    assert e.value.message == f"invalid duration '1e3' for {param.opts[0]}"


@pytest.mark.parametrize("cmd, param", typed_options("DATE"), ids=ids(typed_options("DATE")))
def test_every_date_option_reads_the_same(cmd, param):
    assert parsed(cmd, param, "2024-01") == "2024-01-01T00:00:00Z"
    with pytest.raises(UsageError) as e:
        parsed(cmd, param, "2024-13")
    assert e.value.message == f"invalid date '2024-13' for {param.opts[0]}"


def test_json_flag_is_the_same_everywhere():
    flags = [p for _, p in options_by_flag() if "--json" in p.opts]
    assert len(flags) >= 15
    assert {(p.is_flag, p.help) for p in flags} == {(True, flags[0].help)}


@pytest.fixture
def cli(tmp_path, capsys):
    def run(*args):
        code = main(["--home", str(tmp_path / "home"), *args])
        out, err = capsys.readouterr()
        return code, out, err

    assert run("init")[0] == 0
    return run


@pytest.mark.parametrize("command", [["build", "web"], ["deploy", "web", "--no-wait"],
                                     ["check", "web"], ["start", "web"], ["rollback", "web"],
                                     ["redeploy", "web"]])
def test_timeout_1e3_is_refused_by_every_command_in_the_same_words(cli, command):
    code, _, err = cli(*command, "--timeout", "1e3")
    assert code == 2
    assert err.splitlines() == ["error: invalid duration '1e3' for --timeout",
                                f"hint: {timeutil.DURATION_HINT}"]


def test_since_2024_01_is_accepted_by_import_as_by_check(cli, tmp_path):
    repo = new_repo(tmp_path / "fleet")
    commit_files(repo, {"web.scm": os_config("web"), "vmfleet.pub": KEY,
                        "channels.scm": channels_scm(V1_4_0)}, "first", "2023-12-31T23:00:00+00:00")
    commit_files(repo, {"channels.scm": channels_scm(C_2023_03)}, "upgrade", "2024-01-01T00:00:00+00:00")
    code, out, err = cli("import", str(repo), "--system", "web=web.scm", "--channels",
                         "channels.scm", "--since", "2024-01", "--json")
    assert code == 0, err
    assert json.loads(out)[0]["recorded"] == ["web@1"]  # the commit at 2024-01-01T00:00Z only
    code, _, err = cli("check", "--since", "2024-01", "--builder", "nosuch://x")
    assert "--since" not in err  # accepted; it fails later, on the builder
    code, _, err = cli("import", str(repo), "--system", "web=web.scm", "--channels",
                       "channels.scm", "--since", "2024-13")
    assert code == 2 and "error: invalid date '2024-13' for --since" in err


def test_memory_bare_number_is_mib_and_units_follow_guix():
    from vmfleet.cli import options

    parse = options.memory("--memory", "512M", "").parser
    assert [parse(t) for t in ("2048", "512M", "2G", "1.5GiB", "1024MB")] == [2048, 512, 2048, 1536, 976]
    with pytest.raises(UsageError, match="invalid size '2Gi' for --memory"):
        parse("2Gi")


# --- output ------------------------------------------------------------------------------------

class Tty(io.StringIO):
    def isatty(self):
        return True


def test_progress_is_one_live_line_on_a_terminal():
    out = Tty()
    with Progress(out, indent="  ") as p:
        p("downloading 10%")
        p("downloading 90%")
        p.note("booting web")
        p("waiting for SSH")
    text = out.getvalue()
    assert "\n" not in text.replace("booting web\n", "")  # status lines replace each other
    assert text.endswith("\r\033[K") and "\r\033[K  downloading 90%" in text


def test_progress_is_plain_lines_when_piped():
    out = io.StringIO()
    with Progress(out, indent="  ") as p:
        p("downloading 10%")
        p("  ")
        p.note("booting web")
    assert out.getvalue() == "  downloading 10%\nbooting web\n"


def test_tables_align_and_show_empty_cells(capsys):
    print_table([["web", None, 3], ["database", "", "x"]], ["vm", "host", "n"])
    assert capsys.readouterr().out == ("VM        HOST    N\n"
                                       "web       -       3\n"
                                       "database  -       x\n")
