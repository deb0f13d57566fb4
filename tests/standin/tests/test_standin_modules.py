"""The stand-in loads configs like Guix: its own evaluator, user modules through -L, include,
load, local-file relative to the file that holds it; a .drv carries every file it read."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

from tests.standin.tests.test_standin_cli import C_2024_05, INTRO, KEY, guix

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = """(define-module (me systems base)
  #:use-module (gnu)
  #:use-module (gnu services ssh)
  #:use-module (gnu services networking)
  #:export (base-os %admin))

(define %admin "alice")
(include "../../common/packages.scm")

(define base-os
  (operating-system
    (host-name "base")
    (timezone "Etc/UTC")
    (bootloader (bootloader-configuration (bootloader grub-bootloader)
                                          (targets '("/dev/vda"))))
    (file-systems %base-file-systems)
    (users (cons (user-account (name %admin) (group "users")
                               (supplementary-groups '("wheel")))
                 %base-user-accounts))
    (packages (append common-packages %base-packages))
    (services (cons* (service dhcp-client-service-type)
                     (service openssh-service-type
                              (openssh-configuration
                               (authorized-keys
                                `((,%admin ,(local-file "../../keys/admin.pub"))))))
                     %base-services))))
"""

COMMON = """(use-package-modules admin)
(define common-packages (list htop (specification->package "guile-8sync")))
"""

# current-source-directory, not (dirname (current-filename)): guix compiles the file and Guile
# names it relative to -L (see test_current_filename_of_a_compiled_module_is_relative_to_load_path)
LAPTOP = """(define-module (me systems laptop)
  #:use-module (gnu)
  #:use-module (guix utils)
  #:use-module ((me systems base) #:prefix base:)
  #:use-module (gnu services networking)
  #:use-module (gnu services web))

(define here (current-source-directory))

(operating-system
  (inherit base:base-os)
  (host-name "laptop")
  (services (cons (service nginx-service-type)
                  (remove (lambda (s) (eq? (service-kind s) dhcp-client-service-type))
                          (operating-system-services base:base-os))))
  (packages (cons (local-file (string-append here "/../../etc") #:recursive? #t)
                  (operating-system-packages base:base-os))))
"""


def channels_file(d: Path) -> Path:
    f = d / "channels.scm"
    f.write_text(f"""(list (channel (inherit (car %default-channels))
                       (url "https://git.savannah.gnu.org/git/guix.git")
                       (commit "{C_2024_05}")))
""")
    return f


def repo(tmp_path: Path) -> Path:
    r = tmp_path / "repo"
    (r / "me" / "systems").mkdir(parents=True)
    (r / "me" / "systems" / "base.scm").write_text(BASE)
    (r / "me" / "systems" / "laptop.scm").write_text(LAPTOP)
    (r / "common").mkdir()
    (r / "common" / "packages.scm").write_text(COMMON)
    (r / "keys").mkdir()
    (r / "keys" / "admin.pub").write_text(KEY + "\n")
    (r / "etc").mkdir()
    (r / "etc" / "motd").write_text("hello\n")
    (r / "etc" / "issue").write_text("guix\n")
    return r


def system(tmp_path, store, *args):
    return guix("time-machine", "-C", channels_file(tmp_path), "--", "system", "image",
                "-t", "qcow2", *args, env={"VMFLEET_STANDIN_STORE": str(store)})


def test_module_without_load_path_fails_like_guile(tmp_path):
    r = repo(tmp_path)
    res = system(tmp_path, tmp_path / "store", "-d", r / "me/systems/laptop.scm")
    assert res.returncode == 1 and res.stdout == ""
    lines = res.stderr.splitlines()
    assert lines[-3:] == [f"guix system: error: failed to load '{r}/me/systems/laptop.scm':",
                          "ice-9/boot-9.scm:3330:6: In procedure resolve-interface:",
                          "no code for module (me systems base)"]


def test_module_config_through_load_path_and_drv_carries_every_file(tmp_path):
    r = repo(tmp_path)
    store = tmp_path / "store"
    res = system(tmp_path, store, "-d", "-L", r, r / "me/systems/laptop.scm")
    assert res.returncode == 0, res.stderr
    drv = Path(res.stdout.strip())
    doc = json.loads(drv.read_text())
    files = {Path(s["file"]).relative_to(r).as_posix(): s["kind"] for s in doc["sources"]}
    assert files == {"me/systems/base.scm": "module", "common/packages.scm": "include"}
    local = {Path(f["file"]).relative_to(r).as_posix(): f for f in doc["local-files"]}
    assert set(local) == {"keys/admin.pub", "etc"}
    assert sorted(rel for rel, _ in local["etc"]["tree"]) == ["issue", "motd"]
    assert doc["load-path"] == [str(r)]
    # the sources are gone: the .drv alone builds the image
    shutil.rmtree(r)
    built = guix("build", drv, env={"VMFLEET_STANDIN_STORE": str(store)})
    assert built.returncode == 0, built.stderr
    assert built.stdout.strip().endswith("-image.qcow2")


def test_inherit_takes_the_base_fields_and_names_defined_in_modules(tmp_path):
    from guix_standin import history, osconfig

    r = repo(tmp_path)
    rev = history.by_commit()[C_2024_05]
    cfg = osconfig.load(str(r / "me/systems/laptop.scm"), rev, load_path=(str(r),))
    assert cfg.host_name == "laptop" and cfg.timezone == "Etc/UTC"
    assert [s for s, _ in cfg.services] == ["openssh-service-type", "nginx-service-type"] or \
        [s for s, _ in cfg.services] == ["nginx-service-type", "openssh-service-type"]
    assert cfg.authorized_keys == (("alice", KEY + "\n"),)
    assert [a.name for a in cfg.accounts] == ["alice"]
    assert cfg.accounts[0].supplementary_groups == ("wheel",)
    names = {req.spec.full_name for req in cfg.packages}
    assert "guile-8sync-0.4.2" in names and "htop-3.3.0" in names
    assert cfg.root_login == "#f"


def test_imports_are_not_transitive(tmp_path):
    """The base module imports (gnu services networking); the laptop must import it too to
    name dhcp-client-service-type (Guile modules do not re-export their imports)."""
    r = repo(tmp_path)
    laptop = r / "me/systems/laptop.scm"
    laptop.write_text(LAPTOP.replace("  #:use-module (gnu services networking)\n", ""))
    res = system(tmp_path, tmp_path / "store", "-d", "-L", r, laptop)
    assert res.returncode == 1
    # inside the thunked `services` field: found when the image is lowered, so Guile's
    # backtrace and guix's bare line, without load*'s location and hint (see below)
    assert res.stderr.splitlines()[-1] == "error: dhcp-client-service-type: unbound variable"


def test_a_module_that_returns_no_os(tmp_path):
    r = repo(tmp_path)
    res = system(tmp_path, tmp_path / "store", "-d", "-L", r, r / "me/systems/base.scm")
    assert res.returncode == 1
    assert res.stderr.splitlines()[-1] == (f"guix system: error: '{r}/me/systems/base.scm' "
                                           "does not return an operating system or an image")


@pytest.mark.parametrize("text", [
    "%default-channels",
    "(list (channel (inherit %default-guix-channel) (commit \"{c}\")))",
    "(cons* (channel (name 'mine) (url \"https://example.org/x.git\")) %default-channels)",
    "(list (channel (name 'guix) (url \"https://git.savannah.gnu.org/git/guix.git\")"
    " (commit \"{c}\")" + INTRO + "))",
])
def test_channel_file_idioms(tmp_path, text):
    f = tmp_path / "ch.scm"
    f.write_text(text.format(c=C_2024_05))
    res = guix("time-machine", "-C", f, "--", "describe", "-f", "json",
               env={"VMFLEET_STANDIN_STORE": str(tmp_path / "store")})
    assert res.returncode == 0, res.stderr
    chans = json.loads(res.stdout)
    guix_ch = next(c for c in chans if c["name"] == "guix")
    assert guix_ch["introduction"]["commit"] == "9edb3f66fd807b096b48283debdcddccfea34bad"


def test_an_expression_names_a_module_variable_and_provenance_says_no_file(tmp_path):
    """guix system -e '(@ (me systems base) base-os)': guix/scripts/system.scm@8e2f32cee982:
    1220-1235 evaluates EXPR (read/eval) and calls operating-system-with-provenance with FILE,
    #f; gnu/services.scm@8e2f32cee982:470-480 then writes (configuration-file #f) and
    507-510 adds no configuration.scm."""
    r = repo(tmp_path)
    store = tmp_path / "store"
    expr = "(@ (me systems base) base-os)"
    res = system(tmp_path, store, "-d", "--save-provenance", "-L", r, "-e", expr)
    assert res.returncode == 0, res.stderr
    drv = Path(res.stdout.strip())
    doc = json.loads(drv.read_text())
    files = {Path(s["file"]).relative_to(r).as_posix() for s in doc["sources"]}
    assert files == {"me/systems/base.scm", "common/packages.scm"}
    shutil.rmtree(r)                                   # the .drv alone builds it
    built = guix("build", drv, env={"VMFLEET_STANDIN_STORE": str(store)})
    assert built.returncode == 0, built.stderr
    out = Path(built.stdout.strip())
    assert out.name.endswith("-image.qcow2")
    text = _system_file(out, tmp_path, "provenance")
    assert "(configuration-file #f)" in text
    assert _system_file(out, tmp_path, "configuration.scm") is None
    # both a file and an expression: guix/scripts/system.scm@8e2f32cee982:1228-1230
    both = system(tmp_path, store, "-e", expr, tmp_path / "x.scm")
    assert both.returncode == 1
    assert "both file and expression cannot be specified" in both.stderr
    # a variable that is not an operating system (ensure-operating-system-or-image)
    r = repo(tmp_path / "again")
    bad = system(tmp_path, store, "-L", r, "-e", "(@ (me systems base) %admin)")
    assert bad.returncode == 1
    assert bad.stderr.splitlines()[-1] == ("guix system: error: '(@ (me systems base) %admin)' "
                                           "does not return an operating system or an image")


def _system_file(image: Path, tmp_path: Path, name: str) -> str | None:
    """A file of the image's system directory (qemu-img to raw, then debugfs), None if absent."""
    import subprocess
    raw = tmp_path / "disk.raw"
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(image), str(raw)], check=True)
    parts = json.loads(subprocess.run(["sfdisk", "--json", str(raw)], capture_output=True,
                                      text=True, check=True).stdout)["partitiontable"]
    root = parts["partitions"][-1]
    part = tmp_path / "root.img"
    subprocess.run(["dd", f"if={raw}", f"of={part}", "bs=512", f"skip={root['start']}",
                    f"count={root['size']}", "status=none"], check=True)
    def debugfs(cmd: str) -> str:
        return subprocess.run(["debugfs", "-R", cmd, str(part)], capture_output=True,
                              text=True).stdout

    def follow(path: str) -> str:
        m = re.search(r'Fast link dest: "([^"]+)"', debugfs(f"stat {path}"))
        if m:
            return m.group(1)
        if "Type: symlink" in debugfs(f"stat {path}"):
            return debugfs(f"cat {path}").strip()      # a slow link's target is its data
        return path

    import re
    target = follow("/var/guix/profiles/system-1-link")
    names = debugfs(f"ls -p {target}").split("/")
    if name not in names:
        return None
    return debugfs(f"cat {follow(f'{target}/{name}')}")


def test_a_drv_written_with_a_relative_load_path_builds_from_anywhere(tmp_path):
    """guix/scripts/build.scm@43770a9d8ac:248-253 conses -L DIR as written onto %load-path,
    so a relative DIR is read against the cwd while the config is evaluated; the derivation
    then holds the modules themselves and `guix build [--check] DRV` needs nothing else (the
    cwd and the folder may be gone). The stand-in kept '-L repo' as written and looked for the
    modules against the rebuild's cwd: vmfleet's checks of module repositories failed with
    "no code for module" once the reference build's work directory was removed."""
    r = repo(tmp_path)
    store = tmp_path / "store"
    res = guix("time-machine", "-C", channels_file(tmp_path), "--", "system", "image", "-t",
               "qcow2", "-d", "-L", "repo", "repo/me/systems/laptop.scm",
               env={"VMFLEET_STANDIN_STORE": str(store)}, cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    drv = Path(res.stdout.strip())
    shutil.rmtree(r)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    again = guix("build", "-d", drv, env={"VMFLEET_STANDIN_STORE": str(store)}, cwd=elsewhere)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(drv)


def test_a_module_of_a_channel_that_is_not_pinned_has_no_code(tmp_path):
    """Only the guix channel pinned: (nongnu packages linux) is nobody's module, as with a
    real guix ("no code for module"); the stand-in took nongnu as one of its own."""
    r = repo(tmp_path)
    laptop = r / "me/systems/laptop.scm"
    laptop.write_text(laptop.read_text().replace(
        "#:use-module (gnu services web))",
        "#:use-module (gnu services web)\n  #:use-module (nongnu packages linux))", 1))
    res = system(tmp_path, tmp_path / "store", "-d", "-L", r, laptop)
    assert res.returncode == 1
    assert res.stderr.splitlines()[-1] == "no code for module (nongnu packages linux)"


# A module under -L that finds its files through (current-filename), as many personal configs do.
MOTD_MODULE = """(define-module (me motd)
  #:use-module (ice-9 textual-ports)
  #:export (%motd))

(define %motd
  (call-with-input-file (string-append (dirname (current-filename)) "/../etc/motd") get-string-all))
"""

MOTD_CONFIG = """(use-modules (gnu) (me motd))
(operating-system
  (host-name "motd")
  (timezone "Etc/UTC")
  (issue %motd)
  (bootloader (bootloader-configuration (bootloader grub-bootloader) (targets '("/dev/vda"))))
  (file-systems %base-file-systems))
"""


def test_current_filename_of_a_compiled_module_is_relative_to_load_path(tmp_path):
    """While a config file loads, Guile names every file relative to its -L directory (Guile
    3.0.8 ice-9/boot-9.scm:4395-4396), and (current-filename) canonicalizes that name against
    the cwd (690-696): #f in a module under -L r unless guix runs in r. The module then fails
    while the config is being compiled; Guile interprets the config instead, the module stays
    half-defined, and the config fails where it uses what was never defined (v1.4.0 printed
    exactly these lines for tests/corpus/repo2/src/wren/systems/kiosk.scm)."""
    r = repo(tmp_path)
    (r / "me" / "motd.scm").write_text(MOTD_MODULE)
    config = tmp_path / "motd.scm"
    config.write_text(MOTD_CONFIG)
    store = tmp_path / "store"
    elsewhere = system(tmp_path, store, "-d", "-L", r, config)
    assert elsewhere.returncode == 1 and elsewhere.stdout == ""
    assert elsewhere.stderr.splitlines()[-3:] == [
        "ice-9/eval.scm:223:20: In procedure proc:", "error: %motd: unbound variable",
        "hint: Did you forget `(use-modules (me motd))'?"]
    there = guix("time-machine", "-C", channels_file(tmp_path), "--", "system", "image", "-t", "qcow2",
                 "-d", "-L", ".", config, cwd=r, env={"VMFLEET_STANDIN_STORE": str(store)})
    assert there.returncode == 0, there.stderr
    # the result depended on the cwd: the .drv says where, so `guix build DRV` elsewhere agrees
    assert json.loads(Path(there.stdout.strip()).read_text())["cwd"] == str(r)
    built = guix("build", there.stdout.strip(), env={"VMFLEET_STANDIN_STORE": str(store)})
    assert built.returncode == 0, built.stderr
    # -e reads no file: the module is named r/me/motd.scm, and (current-filename) is a file
    header = "(define-module (me os) #:use-module (gnu) #:use-module (me motd))\n(define-public motd-os"
    (r / "me" / "os.scm").write_text(
        MOTD_CONFIG.replace("(use-modules (gnu) (me motd))", header).rstrip() + ")\n")
    expression = system(tmp_path, store, "-d", "-L", r, "-e", "(@ (me os) motd-os)")
    assert expression.returncode == 0, expression.stderr


def test_a_config_under_load_path_is_named_relative_to_it(tmp_path):
    """v1.4.0, src/me/sys.scm with -L src: ``me/sys.scm:2:14: In procedure scm_to_utf8_stringn:
    Wrong type argument in position 1 (expecting string): #f``, after ``failed to load``."""
    (tmp_path / "src" / "me").mkdir(parents=True)
    (tmp_path / "src" / "me" / "sys.scm").write_text(
        MOTD_CONFIG.replace("(use-modules (gnu) (me motd))", "(use-modules (gnu))\n"
                            "(define %here (dirname (current-filename)))").replace("  (issue %motd)\n", ""))
    res = guix("time-machine", "-C", channels_file(tmp_path), "--", "system", "image", "-t", "qcow2",
               "-d", "-L", "src", "src/me/sys.scm", cwd=tmp_path,
               env={"VMFLEET_STANDIN_STORE": str(tmp_path / "store")})
    assert res.stderr.splitlines()[-2:] == [
        "guix system: error: failed to load 'src/me/sys.scm':",
        "me/sys.scm:2:14: In procedure scm_to_utf8_stringn: Wrong type argument in position 1 "
        "(expecting string): #f"]


def test_current_source_directory_needs_guix_utils(tmp_path):
    r = repo(tmp_path)
    laptop = r / "me/systems/laptop.scm"
    laptop.write_text(LAPTOP.replace("  #:use-module (guix utils)\n", ""))
    res = system(tmp_path, tmp_path / "store", "-d", "-L", r, laptop)
    assert res.returncode == 1
    assert "error: current-source-directory: unbound variable" in res.stderr


def test_the_last_load_path_given_is_searched_first(tmp_path):
    """guix/scripts/build.scm@8e2f32cee98:246-251 conses each -L onto %load-path."""
    from guix_standin import history, osconfig

    for host in ("first", "second"):
        write_dir = tmp_path / host / "me"
        write_dir.mkdir(parents=True)
        (write_dir / "host.scm").write_text(
            f'(define-module (me host) #:export (%host))\n(define %host "{host}")\n')
    config = tmp_path / "config.scm"
    config.write_text(MOTD_CONFIG.replace("(me motd)", "(me host)").replace('"motd"', "%host")
                      .replace("  (issue %motd)\n", ""))
    rev = history.by_commit()[C_2024_05]
    cfg = osconfig.load(str(config), rev, load_path=(str(tmp_path / "first"), str(tmp_path / "second")))
    assert cfg.host_name == "second"


@pytest.mark.parametrize("commit, located", [(C_2024_05, False), ("a0178d34f582b50e9bdbb0403943129ae5b560ff", True)])
def test_an_unbound_variable_in_services_is_found_when_the_thunk_is_forced(tmp_path, commit, located):
    """`services` is thunked from 24ead149dba (gnu/system.scm@8e2f32cee98:281): v1.4.0 printed a
    backtrace and a bare `error: nginx-service-type: unbound variable`
    (tests/unit/guix-stderr/v1.4.0-unbound-in-services.txt); before, load* reports it located."""
    from guix_standin import history, osconfig
    from guix_standin.errors import GuixError

    config = tmp_path / "config.scm"
    config.write_text(MOTD_CONFIG.replace("(me motd)", "").replace("  (issue %motd)\n", "").replace(
        "(file-systems %base-file-systems))",
        "(file-systems %base-file-systems)\n  (services (cons (service nginx-service-type) %base-services)))"))
    with pytest.raises(GuixError) as e:
        osconfig.load(str(config), history.by_commit()[commit])
    text = e.value.render()
    if located:
        assert f"{config}:" in text and "error: nginx-service-type: unbound variable" in text
    else:
        assert text.splitlines()[-1] == "error: nginx-service-type: unbound variable"
        assert "hint:" not in text and str(config) not in text


@pytest.mark.parametrize("packages, where", [
    ("(list   nosuch-pkg-var)", "20: error: nosuch-pkg-var"),           # an argument
    ("(cons (nosuch-proc 1) %base-packages)", "19: error: nosuch-proc"),  # an operator
])
def test_an_unbound_variable_is_located_at_its_symbol(tmp_path, packages, where):
    """What the real Guix v1.4.0 printed for these two lines (tests/realguix tier's Guix,
    `guix system image -d`): the column of the symbol, not of the list around it."""
    from guix_standin import history, osconfig
    from guix_standin.errors import GuixError

    config = tmp_path / "a.scm"
    config.write_text(MOTD_CONFIG.replace("(me motd)", "").replace(
        "  (issue %motd)\n", f"  (packages {packages})\n"))
    line = 1 + next(i for i, text in enumerate(config.read_text().splitlines())
                    if text.startswith("  (packages "))
    with pytest.raises(GuixError) as e:
        osconfig.load(str(config), history.by_commit()[C_2024_05])
    assert e.value.render().splitlines()[0] == f"{config}:{line}:{where}: unbound variable"
