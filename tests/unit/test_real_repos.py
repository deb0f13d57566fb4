"""Right answers on real repositories (issue 16): channel modules known from the pinned
channels, the file's value as guix builds it, every input a build reads (or a warning)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.fleet import commit_files, git, new_repo
from tests.helpers.pins import C_2023_03, C_2023_06, V1_4_0
from vmfleet.errors import UsageError
from vmfleet.guix import channel_modules
from vmfleet.registry import generations

GUIX_COMMIT = "76e39909e886bb51cf9b2fa03a1523545faca880"   # a real guix commit (the mirror has it)

OS_BODY = """(operating-system
  (host-name "{host}")
  (timezone "Europe/Berlin")
  (bootloader (bootloader-configuration (bootloader grub-bootloader) (targets '("/dev/vda"))))
  (file-systems (cons (file-system (mount-point "/") (device "/dev/vda2") (type "ext4"))
                      %base-file-systems)){extra})"""


def channels(*extra: tuple[str, str, str | None]) -> str:
    out = [f'(channel (name \'guix) (url "https://git.savannah.gnu.org/git/guix.git") '
           f'(commit "{GUIX_COMMIT}"))']
    for name, url, commit in extra:
        pin = f' (commit "{commit}")' if commit else ""
        out.append(f"(channel (name '{name}) (url \"{url}\"){pin})")
    return "(list " + "\n      ".join(out) + ")\n"


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def channel_clone(path: Path, directory: str | None, modules: list[str]) -> str:
    """A channel repository: .guix-channel naming ``directory``, the module files; its commit."""
    new_repo(path)
    files = {f"{directory + '/' if directory else ''}{m}": "(define-module (x))\n" for m in modules}
    if directory is not None:
        files[".guix-channel"] = f'(channel (version 0) (directory "{directory}"))\n'
    return commit_files(path, files, "channel", "2024-01-01T00:00:00+00:00")


SOPS_CONFIG = "(use-modules (gnu) (sops secrets))\n" + OS_BODY.format(host="owl", extra="")


def read(tmp_path: Path, config: str = "config.scm", **kw) -> generations.Inputs:
    return generations.read_inputs(tmp_path / config, tmp_path / "channels.scm", cwd=tmp_path,
                                   **kw)


# --- channel modules --------------------------------------------------------------------------

def test_a_channel_whose_modules_are_not_named_after_it_is_recorded_not_verified(tmp_path):
    write(tmp_path, {"config.scm": SOPS_CONFIG,
                     "channels.scm": channels(("sops-guix", "https://git.example.invalid/sops-guix",
                                               GUIX_COMMIT))})
    inputs = read(tmp_path)
    assert inputs.unverified and "(sops secrets)" in inputs.unverified[0]
    assert "not verified" in inputs.unverified[0] and "sops-guix" in inputs.unverified[0]
    summary = generations.analyse(inputs).summary
    assert summary["channel_modules_not_verified"] == list(inputs.unverified)
    assert not inputs.warnings           # not an unresolved input: guix fetches the channel


def test_a_channel_clone_verifies_its_modules_below_its_directory(tmp_path):
    clone = tmp_path / "sops-clone"
    commit = channel_clone(clone, "src", ["sops/secrets.scm", "sops/state.scm"])
    conf = tmp_path / "conf"
    write(conf, {"config.scm": SOPS_CONFIG,
                 "channels.scm": channels(("sops-guix", "https://git.example.invalid/s", commit))})
    inputs = read(conf, channel_repos={"sops-guix": clone})
    assert inputs.unverified == ()
    # The same channel without the module: guix would say "no code for module".
    write(conf, {"config.scm": SOPS_CONFIG.replace("(sops secrets)", "(sops missing)")})
    with pytest.raises(UsageError, match=r"no code for module \(sops missing\)"):
        read(conf, channel_repos={"sops-guix": clone})


def test_a_module_of_a_channel_that_is_not_pinned_is_refused(tmp_path):
    config = "(use-modules (gnu) (nongnu packages linux))\n" + OS_BODY.format(
        host="wren", extra="\n  (kernel linux)")
    write(tmp_path, {"config.scm": config, "channels.scm": channels()})
    with pytest.raises(UsageError, match=r"no code for module \(nongnu packages linux\)") as e:
        read(tmp_path)
    assert "pin the channel" in e.value.hint


def test_the_checkout_cache_is_found_by_the_channel_url(tmp_path):
    url = "https://git.example.invalid/r0man/channel"
    cache = tmp_path / "checkouts"
    clone = cache / channel_modules.checkout_name(url)
    commit = channel_clone(clone, None, ["r0man/guix/packages/lisp.scm"])
    conf = tmp_path / "conf"
    write(conf, {"config.scm": "(use-modules (gnu) (r0man guix packages lisp))\n"
                 + OS_BODY.format(host="jay", extra=""),
                 "channels.scm": channels(("r0man-channel", url, commit))})
    assert read(conf, checkouts=cache).unverified == ()
    # The name is RFC 4648 base32 of the URL's SHA-256, lower case, unpadded (guix/git.scm).
    assert len(channel_modules.checkout_name(url)) == 52
    assert channel_modules.checkout_name(url) == channel_modules.checkout_name(url).lower()


def test_channel_directory_as_guix_reads_it():
    assert channel_modules.channel_directory('(channel (version 0) (directory "src"))') == "src"
    assert channel_modules.channel_directory('(channel (version 0) (directory "/a/b/"))') == "a/b"
    assert channel_modules.channel_directory("(channel (version 0))") == ""


# --- the value of the file --------------------------------------------------------------------

def test_a_file_whose_last_form_is_a_call_is_recorded_partial(tmp_path):
    write(tmp_path, {
        "me/base.scm": "(define-module (me base) #:use-module (gnu) #:export (with-my-defaults))\n"
                       "(define (with-my-defaults os) os)\n",
        "config.scm": "(use-modules (gnu) (me base))\n(with-my-defaults (make-my-os \"owl\"))\n",
        "channels.scm": channels()})
    inputs = read(tmp_path, load_path=["."])
    assert inputs.expression is None             # built as a file, as guix system image FILE
    summary = generations.analyse(inputs).summary
    assert summary["partial"] is True and summary["host_name"] is None


def test_a_call_over_an_os_defined_in_the_file_summarises_that_os_partially(tmp_path):
    write(tmp_path, {"config.scm": "(use-modules (gnu))\n(define my-os "
                     + OS_BODY.format(host="kite", extra="") + ")\n(with-defaults my-os)\n",
                     "channels.scm": channels()})
    summary = generations.analyse(read(tmp_path)).summary
    assert summary["partial"] is True and summary["host_name"] == "kite"


MODULE_TWO_OS = """(define-module (me systems laptop)
  #:use-module (gnu)
  #:export (modded-operating-system))
(define base-operating-system
  {os})
(define modded-operating-system
  (with-tweaks base-operating-system))
(define base-helper 1)
"""


def test_a_module_is_built_with_its_exported_operating_system(tmp_path):
    write(tmp_path, {"me/systems/laptop.scm": MODULE_TWO_OS.format(
        os=OS_BODY.format(host="owl", extra="")), "channels.scm": channels()})
    inputs = read(tmp_path, "me/systems/laptop.scm", load_path=["."])
    assert inputs.expression == "(@ (me systems laptop) modded-operating-system)"


def test_several_exported_candidates_are_refused_and_one_can_be_chosen(tmp_path):
    text = MODULE_TWO_OS.format(os=OS_BODY.format(host="owl", extra="")).replace(
        "#:export (modded-operating-system)",
        "#:export (modded-operating-system base-operating-system)")
    write(tmp_path, {"me/systems/laptop.scm": text, "channels.scm": channels()})
    with pytest.raises(UsageError, match="modded-operating-system, base-operating-system|"
                       "base-operating-system, modded-operating-system") as e:
        read(tmp_path, "me/systems/laptop.scm", load_path=["."])
    assert "FILE:VARIABLE" in e.value.hint
    inputs = read(tmp_path, "me/systems/laptop.scm", load_path=["."],
                  variable="base-operating-system")
    assert inputs.expression == "(@ (me systems laptop) base-operating-system)"
    assert generations.analyse(inputs).summary["host_name"] == "owl"
    with pytest.raises(UsageError, match="defines no variable nope"):
        read(tmp_path, "me/systems/laptop.scm", load_path=["."], variable="nope")


# --- every input or a warning -----------------------------------------------------------------

INPUTS_CONFIG = """(use-modules (gnu) (guix gexp) (ice-9 textual-ports))
(define %here (dirname (current-filename)))
(define %mods '((me build helpers)))
(define job
  (with-imported-modules (source-module-closure '((me build tools)))
    #~(begin (use-modules (me build tools)) #t)))
(define other
  (with-imported-modules %mods #~#t))
(define crates (make-crates #:module '(me packages rust-crates)))
(define key (call-with-input-file (string-append %here "/../files/motd") get-string-all))
(define extra (computed-file "x" #~#t #:modules '((guix build utils) (me build extra))))
""" + OS_BODY.format(host="owl", extra="\n  (issue key)")


def test_gexp_modules_and_evaluation_time_reads_are_inputs(tmp_path):
    write(tmp_path, {
        "sys/config.scm": INPUTS_CONFIG, "files/motd": "hello\n", "channels.scm": channels(),
        "src/me/build/helpers.scm": "(define-module (me build helpers))\n",
        "src/me/build/tools.scm": "(define-module (me build tools))\n",
        "src/me/build/extra.scm": "(define-module (me build extra))\n",
        "src/me/packages/rust-crates.scm": "(define-module (me packages rust-crates))\n"})
    inputs = read(tmp_path, "sys/config.scm", load_path=["src"])
    assert not inputs.warnings
    roles = inputs.roles
    for m in ("helpers", "tools", "extra"):
        assert roles[f"src/me/build/{m}.scm"] == "module"
    assert roles["src/me/packages/rust-crates.scm"] == "module"
    assert roles["files/motd"] == "read" and inputs.files["files/motd"] == b"hello\n"


def test_a_read_or_module_list_vmfleet_cannot_compute_is_a_warning(tmp_path):
    write(tmp_path, {"config.scm": "(use-modules (gnu))\n"
                     "(define motd (call-with-input-file (getenv \"MOTD\") read))\n"
                     "(define j (with-imported-modules (my-modules) #~#t))\n"
                     + OS_BODY.format(host="owl", extra=""),
                     "channels.scm": channels()})
    inputs = read(tmp_path)
    assert len(inputs.warnings) == 2
    by_line = {w.split(": ")[0]: w for w in inputs.warnings}
    assert "getenv" in by_line["config.scm:2"] and "(my-modules)" in by_line["config.scm:3"]
    with pytest.raises(UsageError, match="--strict"):
        read(tmp_path, strict=True)


def test_a_module_list_defined_in_a_load_path_module_is_followed(tmp_path):
    write(tmp_path, {
        "config.scm": "(use-modules (gnu) (me lists))\n(define j (with-imported-modules "
                      "%my-build-modules #~#t))\n" + OS_BODY.format(host="owl", extra=""),
        "me/lists.scm": "(define-module (me lists) #:export (%my-build-modules))\n"
                        "(define %my-build-modules '((me build x)))\n",
        "me/build/x.scm": "(define-module (me build x))\n", "channels.scm": channels()})
    inputs = read(tmp_path, load_path=["."])
    assert inputs.roles.get("me/build/x.scm") == "module" and not inputs.warnings


def test_git_import_records_a_channel_module_repository(reg, tmp_path):
    """The sops-guix case end to end: every commit recorded, not 0 of them."""
    from vmfleet.registry import git_import

    repo = new_repo(tmp_path / "repo")
    chans = channels(("sops-guix", "https://git.example.invalid/sops-guix", GUIX_COMMIT))
    commit_files(repo, {"channels.scm": chans, "config.scm": SOPS_CONFIG}, "one",
                 "2024-01-01T00:00:00+00:00")
    commit_files(repo, {"config.scm": SOPS_CONFIG.replace("owl", "owl2")}, "two",
                 "2024-01-02T00:00:00+00:00")
    result = git_import.import_system(reg, repo, "owl", "config.scm", "channels.scm")
    assert len(result.recorded) == 2 and not result.skipped
    assert result.unverified == ("module (sops secrets) is provided by a pinned channel (not "
                                 "verified: no clone of sops-guix)",)
    git(repo, "status")


# --- what an import skipped -------------------------------------------------------------------

def _history_before_channels(tmp_path):
    repo = new_repo(tmp_path / "repo")
    config = "(use-modules (gnu))\n" + OS_BODY.format(host="{host}", extra="")
    ids = [commit_files(repo, {"x1.scm": config.format(host=f"x{i}")}, f"x1 v{i}",
                        f"2024-01-0{i}T00:00:00+00:00") for i in range(1, 4)]
    commit_files(repo, {"README": "other\n"}, "docs", "2024-01-04T00:00:00+00:00")
    commit_files(repo, {"channels.scm": channels()}, "pin", "2024-01-05T00:00:00+00:00")
    commit_files(repo, {"x1.scm": config.format(host="x9")}, "x1 v9", "2024-01-06T00:00:00+00:00")
    return repo, ids


def test_commits_before_the_channels_file_are_reported(reg, tmp_path):
    from vmfleet.registry import git_import

    repo, ids = _history_before_channels(tmp_path)
    result = git_import.import_system(reg, repo, "x1", "x1.scm", "channels.scm")
    assert len(result.recorded) == 2
    (skip,) = result.skips
    assert (skip.count, skip.first, skip.last) == (3, ids[0], ids[-1])
    assert "--channels-before" in skip.reason
    assert str(skip).startswith(f"3 commits ({ids[0][:7]}..{ids[-1][:7]}): ")


def test_channels_before_records_them_marked(reg, tmp_path):
    from vmfleet.registry import git_import

    repo, ids = _history_before_channels(tmp_path)
    result = git_import.import_system(reg, repo, "x1", "x1.scm", "channels.scm",
                                      channels_before=channels())
    assert not result.skips
    gens = generations.list_for(reg, "x1")
    assert [g.git_commit for g in gens[:3]] == ids
    assert {g.source for g in gens[:3]} == {git_import.SOURCE_CHANNELS_BEFORE}
    assert gens[-1].source == "git" and gens[-1].summary["host_name"] == "x9"


def test_skips_are_grouped_by_reason_with_their_range(tmp_path):
    from vmfleet.registry.git_import import group_skips

    a, b, c = V1_4_0, C_2023_03, C_2023_06
    skips = group_skips([(a, "bad"), (b, "worse"), (c, "bad")])
    assert [(s.reason, s.count, s.range) for s in skips] == [("bad", 2, f"{a[:7]}..{c[:7]}"),
                                                             ("worse", 1, b[:7])]


# --- incremental import -----------------------------------------------------------------------

def test_a_re_import_reads_only_new_commits_and_nothing_when_up_to_date(reg, tmp_path, monkeypatch):
    from vmfleet.registry import git_import

    repo = new_repo(tmp_path / "repo")
    config = "(use-modules (gnu))\n" + OS_BODY.format(host="{host}", extra="")
    commit_files(repo, {"channels.scm": channels(), "c.scm": config.format(host="a")}, "one",
                 "2024-01-01T00:00:00+00:00")
    commit_files(repo, {"c.scm": config.format(host="b")}, "two", "2024-01-02T00:00:00+00:00")
    first = git_import.import_system(reg, repo, "c", "c.scm", "channels.scm")
    assert len(first.recorded) == 2
    read = []
    real = git_import.closure.gather
    monkeypatch.setattr(git_import.closure, "gather",
                        lambda *a, **k: read.append(1) or real(*a, **k))
    again = git_import.import_system(reg, repo, "c", "c.scm", "channels.scm")
    assert again.up_to_date and read == []
    # A new commit dated before the last generation: read alone, recorded after it.
    commit_files(repo, {"c.scm": config.format(host="c")}, "three", "2023-01-01T00:00:00+00:00")
    third = git_import.import_system(reg, repo, "c", "c.scm", "channels.scm")
    assert len(third.recorded) == 1 and len(read) == 1
    gens = generations.list_for(reg, "c")
    assert [g.summary["host_name"] for g in gens] == ["a", "b", "c"]
    assert gens[2].current_from > gens[1].current_from
    # Other options: the whole history again (nothing new to record).
    other = git_import.import_system(reg, repo, "c", "c.scm", "channels.scm", strict=True)
    assert not other.up_to_date and other.recorded == () and len(read) > 1


# --- summaries --------------------------------------------------------------------------------

def test_a_prefixed_delete_is_a_removal():
    from vmfleet.guix.os_config import summarize_os

    text = """(use-modules (gnu) ((gnu services) #:prefix svc:))
(use-service-modules desktop xorg)
""" + OS_BODY.format(host="owl", extra="""
  (services (modify-services %desktop-services (svc:delete gdm-service-type)))""")
    s = summarize_os(text, "c.scm").to_dict()
    assert {"type": "gdm-service-type", "config": "", "kind": "deleted"} in s["services"]


def test_an_inherited_installation_os_is_shown_inherited(tmp_path, capsys):
    from vmfleet.cli import main

    text = ("(use-modules (gnu) (gnu system install))\n(operating-system (inherit installation-os)"
            " (timezone \"Etc/UTC\"))\n")
    write(tmp_path, {"config.scm": text, "channels.scm": channels()})
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    assert main(["--home", str(home), "add", "inst", str(tmp_path / "config.scm"),
                 "--channels", str(tmp_path / "channels.scm")]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "show", "inst"]) == 0
    out = capsys.readouterr().out
    assert "host-name inherited from installation-os" in out and "#f" not in out
    assert "services:  inherited from installation-os" in out
    assert "%base-services" not in out


def test_plain_show_marks_removed_and_conditional_services(tmp_path, capsys):
    from vmfleet.cli import main

    text = "(use-modules (gnu))\n(use-service-modules networking ssh desktop)\n" + OS_BODY.format(
        host="owl", extra="""
  (services (append (list (if (target-x86-64?) (service openssh-service-type)
                              (service dhcp-client-service-type)))
                    (modify-services %base-services (delete console-font-service-type))
                    (remove (lambda (s) (eq? (service-kind s) ntp-service-type))
                            %desktop-services)))""")
    write(tmp_path, {"config.scm": text, "channels.scm": channels()})
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    assert main(["--home", str(home), "add", "owl", str(tmp_path / "config.scm"),
                 "--channels", str(tmp_path / "channels.scm")]) == 0
    capsys.readouterr()
    assert main(["--home", str(home), "show", "owl"]) == 0
    services = next(ln for ln in capsys.readouterr().out.splitlines()
                    if ln.startswith("services:"))
    assert "openssh-service-type (conditional)" in services
    assert "dhcp-client-service-type (conditional)" in services
    assert "console-font-service-type (removed)" in services
    assert "ntp-service-type (removed)" in services


def test_a_read_inside_a_gexp_runs_on_the_built_system_and_is_no_input(tmp_path):
    write(tmp_path, {"config.scm": "(use-modules (gnu) (guix gexp))\n"
                     "(define job #~(call-with-input-file \"/etc/hostname\" read-line))\n"
                     "(define now #~(list #$(call-with-input-file \"motd\" read-line)))\n"
                     + OS_BODY.format(host="owl", extra=""),
                     "motd": "hi\n", "channels.scm": channels()})
    inputs = read(tmp_path)
    assert inputs.roles == {"motd": "read"} and not inputs.warnings


def test_plan_says_which_inputs_changed_in_the_diff_s_words(reg):
    from vmfleet.fleet.plan import package_summary

    def gen(when, module):
        inputs = generations.Inputs("web.scm", "(use-modules (gnu))\n" + OS_BODY.format(
            host="owl", extra=""), channels(), {"lib/m.scm": module}, roles={"lib/m.scm": "module"})
        return generations.record(reg, "web", inputs, current_from=when)[0]

    a = gen("2024-01-01T00:00:00Z", b"(define-module (m))\n")
    b = gen("2024-02-01T00:00:00Z", b"(define-module (m))\n;; more\n")
    text = package_summary(reg, a.id, b)
    assert text.endswith("; module lib/m.scm changed"), text


def test_import_cli_chooses_a_variable_and_reports_skips(tmp_path, capsys):
    """--system NAME=FILE:VARIABLE picks the OS of a module that exports two; the skipped
    commits before the channels file are reported with their count and range."""
    from vmfleet.cli import main

    repo = new_repo(tmp_path / "repo")
    module = MODULE_TWO_OS.format(os=OS_BODY.format(host="owl", extra="")).replace(
        "#:export (modded-operating-system)",
        "#:export (modded-operating-system base-operating-system)")
    first = commit_files(repo, {"me/systems/laptop.scm": module}, "before channels",
                         "2024-01-01T00:00:00+00:00")
    commit_files(repo, {"channels.scm": channels()}, "pin", "2024-01-02T00:00:00+00:00")
    home = tmp_path / "home"
    assert main(["--home", str(home), "init"]) == 0
    capsys.readouterr()
    args = ["--home", str(home), "import", str(repo), "-L", ".", "--channels", "channels.scm"]
    code = main([*args, "--system", "laptop=me/systems/laptop.scm"])
    out, err = capsys.readouterr()
    assert code == 2  # no commit could be read (issue 22 #11): not a success
    assert "error: laptop: none of its 1 commits could be read" in err
    assert f"warning: laptop: skipped 1 commit ({first[:7]}): the channels file did not exist" \
        in err + out
    assert "exports several bindings" in err + out     # the commit with channels: refused
    code = main([*args, "--system", "laptop=me/systems/laptop.scm:base-operating-system"])
    out, err = capsys.readouterr()
    assert code == 0 and "1 new generation" in err + out
    assert main(["--home", str(home), "show", "laptop", "--json"]) == 0
    import json
    shown = json.loads(capsys.readouterr().out)
    assert shown["expression"] == "(@ (me systems laptop) base-operating-system)"


# --- what Guile calls a file: (current-filename) in a compiled module -------------------------

BANNER_MODULE = """(define-module (me banner)
  #:use-module (ice-9 textual-ports)
  #:export (%banner))
(define %banner
  (call-with-input-file (string-append (dirname (current-filename)) "/../../files/motd") get-string-all))
"""


def test_current_filename_in_a_module_under_load_path_is_false_and_said(tmp_path):
    """guix compiles the config and what it loads; Guile names a compiled module relative to
    its -L directory, so (current-filename) is #f from another cwd: Guix fails there, and
    vmfleet records no file but a warning that says why."""
    write(tmp_path, {"sys/config.scm": "(use-modules (gnu) (me banner))\n"
                     + OS_BODY.format(host="owl", extra="\n  (issue %banner)"),
                     "src/me/banner.scm": BANNER_MODULE, "files/motd": "hi\n", "channels.scm": channels()})
    inputs = read(tmp_path, "sys/config.scm", load_path=["src"])
    [warning] = inputs.warnings
    assert warning.startswith("src/me/banner.scm:5: cannot tell which file (call-with-input-file")
    assert "(current-filename) is #f there" in warning and "me/banner.scm" in warning
    assert "(current-source-directory)" in warning
    assert "files/motd" not in inputs.roles


def test_current_filename_resolves_when_guix_runs_in_the_load_path_directory(tmp_path):
    """-L . from the repository's root (the usual layout): the relative name is a file."""
    write(tmp_path, {"sys/config.scm": "(use-modules (gnu) (me banner))\n"
                     + OS_BODY.format(host="owl", extra="\n  (issue %banner)"),
                     "me/banner.scm": BANNER_MODULE.replace("/../../files", "/../files"),
                     "files/motd": "hi\n", "channels.scm": channels()})
    inputs = read(tmp_path, "sys/config.scm", load_path=["."])
    assert not inputs.warnings and inputs.roles["files/motd"] == "read"


def test_the_last_load_path_given_is_searched_first(tmp_path):
    """guix/scripts/build.scm@8e2f32cee98:246-251 conses each -L onto %load-path."""
    write(tmp_path, {"config.scm": "(use-modules (gnu) (me host))\n" + OS_BODY.format(host="owl", extra=""),
                     "a/me/host.scm": "(define-module (me host))\n",
                     "b/me/host.scm": "(define-module (me host))\n", "channels.scm": channels()})
    inputs = read(tmp_path, load_path=["a", "b"])
    assert inputs.roles.get("b/me/host.scm") == "module" and "a/me/host.scm" not in inputs.roles
