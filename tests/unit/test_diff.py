"""The layered diff: classification, each layer, JSON schema, stored expected outputs, CLI."""

import dataclasses
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from tests.helpers import golden
from tests.helpers.diskimage import C_NEW, C_OLD, image
from tests.helpers.fleet import commit_files, git, new_repo, os_config
from tests.helpers.pins import C_2023_03, C_2023_06, C_2023_10, C_2024_05, V1_4_0
from vmfleet.cli import main
from vmfleet.diff import channel_diff, compare, config_diff, file_diff, human, json_out, operands, package_diff, sides
from vmfleet.guix.store import ChannelPin, StoreItem
from vmfleet.inspect.facts import FileFact, ImageFacts, Package
from vmfleet.registry import generations
from vmfleet.registry.db import Registry

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "docs" / "diff.schema.json").read_text())
URL = "https://git.savannah.gnu.org/git/guix.git"


@pytest.fixture(autouse=True)
def no_guix_checkouts(tmp_path, monkeypatch):
    """Guix's checkout cache of the machine running the tests must not change the outputs."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def validate(data: dict) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.validate(data, SCHEMA, cls=jsonschema.Draft202012Validator)


# --- packages --------------------------------------------------------------------------------

@pytest.mark.parametrize("a, b, same, kind", [
    ((), ("1.0",), False, "added"),
    (("1.0",), (), False, "removed"),
    (("1.0",), ("1.0",), True, "unchanged"),
    (("1.0",), ("1.0",), False, "rebuilt"),
    (("1.0",), ("1.1",), False, "upgraded"),
    (("1.10",), ("1.9",), False, "downgraded"),
    (("11.3.0", "11.3.0-lib"), ("12.1.0", "12.1.0-lib"), False, "upgraded"),
    (("",), ("", ""), False, "changed"),
    (("2.35",), ("2.35", "2.35-static"), False, "upgraded"),
])
def test_classify(a, b, same, kind):
    assert package_diff.classify(a, b, same) == kind


def _hash(n: int) -> str:
    return f"{n:032d}".replace("0", "a")


def facts(items: dict[str, int | None], packages=(), files=None) -> ImageFacts:
    """ImageFacts from {name-version: size}, with stable fake hashes per (name, salt)."""
    store = []
    for key, size in items.items():
        name, _, salt = key.partition("#")
        h = _hash(abs(hash((name, salt))) % 10**9)
        store.append(StoreItem(f"/gnu/store/{h}-{name}", size))
    pk = tuple(Package(p.rsplit("-", 1)[0], p.rsplit("-", 1)[1], "out", "") for p in packages)
    known = all(s is not None for s in items.values())
    return ImageFacts(source="x", kind="image", system=None, generation=None, provenance=None,
                      channels_scm=None, configuration=None, packages=pk,
                      items=tuple(sorted(store, key=lambda i: i.path)),
                      closure_size=sum(items.values()) if known else None,
                      store_source="database", files=files)


def test_package_changes_with_sizes_and_requested():
    a = facts({"nginx-1.23.3": 100, "openssl-1.1.1t": 50, "zlib-1.2.13": 10, "apr-1.7": 5,
               "pcre-8.45": 7, "glibc-2.35": 1000},
              packages=("nginx-1.23.3",))
    b = facts({"nginx-1.25.0": 120, "openssl-3.0.8": 70, "zlib-1.2.13#rebuilt": 11,
               "curl-8.0.1": 30, "pcre-8.44": 6, "glibc-2.35": 1000},
              packages=("nginx-1.25.0", "curl-8.0.1"))
    p = package_diff.diff_packages(a, b)
    got = {c.name: (c.change, c.size_delta, c.requested) for c in p.changes}
    assert got == {
        "nginx": ("upgraded", 20, True), "openssl": ("upgraded", 20, False),
        "pcre": ("downgraded", -1, False), "curl": ("added", 30, True),
        "apr": ("removed", -5, False), "zlib": ("rebuilt", 1, False),
    }
    assert [c.change for c in p.changes] == ["upgraded", "upgraded", "downgraded", "added",
                                             "removed", "rebuilt"]
    assert p.unchanged == 1 and (p.size_a, p.size_b, p.size_delta) == (1172, 1237, 65)


def test_packages_without_sizes():
    p = package_diff.diff_packages(facts({"a-1": None}), facts({"a-2": None}))
    assert p.changes[0].size_delta is None and p.size_delta is None
    assert "?" in human.render(_diff_of(packages=p))


def test_same_store_names_are_equal_whatever_else():
    a = facts({"hello-2.12": 100})
    b = facts({"hello-2.12": 999})  # a different size recorded: names decide, not contents
    assert package_diff.diff_packages(a, b).equal


def _diff_of(**layers) -> compare.Diff:
    side = sides.Side(label="a", kind="image", source="a")
    return compare.Diff(a=side, b=side, layers=tuple(x for x in sides.LAYERS if x in layers), **layers)


# --- files -----------------------------------------------------------------------------------

def ff(path, kind="file", mode=0o644, uid=0, gid=0, size=3, sha="x", target=None, text=None):
    return FileFact(path, kind, mode, uid, gid, size, sha if kind == "file" else None, target,
                    text)


def test_file_changes():
    a = [ff("/etc/a"), ff("/etc/b", mode=0o600), ff("/etc/c", uid=1000),
         ff("/etc/d", sha="1", text="one\n", size=4), ff("/etc/l", "symlink", 0o777, target="x"),
         ff("/etc/t"), ff("/etc/gone", text="bye\n")]
    b = [ff("/etc/a"), ff("/etc/b", mode=0o644), ff("/etc/c", uid=0),
         ff("/etc/d", sha="2", text="two\n", size=4), ff("/etc/l", "symlink", 0o777, target="y"),
         ff("/etc/t", "dir", 0o755), ff("/etc/new", text="hi\n")]
    changes = {c.path: c for c in file_diff.diff_files(a, b, content=True)}
    assert set(changes) == {"/etc/b", "/etc/c", "/etc/d", "/etc/l", "/etc/t", "/etc/gone",
                            "/etc/new"}
    assert changes["/etc/b"].what == ("mode",)
    assert changes["/etc/c"].what == ("owner",)
    assert changes["/etc/d"].what == ("content",)
    assert "-one\n+two" in changes["/etc/d"].diff
    assert changes["/etc/l"].what == ("target",)
    assert changes["/etc/t"].what == ("type", "mode")
    assert changes["/etc/gone"].change == "removed" and "-bye" in changes["/etc/gone"].diff
    assert changes["/etc/new"].change == "added" and "+hi" in changes["/etc/new"].diff
    assert all(c.diff is None for c in file_diff.diff_files(a, b, content=False))


# --- config ----------------------------------------------------------------------------------

def config_side(text: str, label: str = "x") -> sides.Side:
    missing: dict = {}
    return sides.Side(label=label, kind="image", source=label, config_text=text,
                  summary=sides._summarize(text, label, missing), missing=missing)


def test_config_packages_services_and_fields():
    a = config_side(os_config("web", ("nginx", "hello")))
    b = config_side(os_config("web", ("nginx", "curl"),
                              extra_services=" (service ntp-service-type)")
                    .replace("Europe/Berlin", "UTC")
                    .replace("'prohibit-password", "#f"))
    c = config_diff.diff_config(a, b, text=True)
    assert c.packages_added == ("curl",) and c.packages_removed == ("hello",)
    assert [(f.field, f.before, f.after) for f in c.fields] == [
        ("timezone", '"Europe/Berlin"', '"UTC"')]
    changes = {(s.type, s.change) for s in c.services}
    assert changes == {("ntp-service-type", "added"), ("openssh-service-type", "reconfigured")}
    assert c.text_diff.startswith("--- a/configuration.scm")
    assert not c.equal


def test_config_comment_only_change():
    text = os_config("web")
    c = config_diff.diff_config(config_side(text), config_side(";; moved\n" + text))
    assert not c.equal and not (c.fields or c.services or c.packages_added)
    assert "text only" in "\n".join(human._config_lines(c, False))
    assert config_diff.diff_config(config_side(text), config_side(text)).equal


def test_config_that_does_not_parse_still_diffs_as_text():
    c = config_diff.diff_config(config_side("(operating-system"), config_side(os_config("web")), text=True)
    assert not c.structural and c.text_changed and c.text_diff


# --- channels --------------------------------------------------------------------------------

def pin(commit, name="guix", url=URL):
    return ChannelPin(name, url, "master", commit)


def test_channel_changes_without_a_clone():
    a = [pin(V1_4_0), pin(C_2023_06, "extra", "https://example.org/x.git")]
    b = [pin(C_2023_03, url="https://codeberg.org/guix/guix.git"),
         pin(C_2023_10, "other", "https://example.org/o.git")]
    changes = {c.name: c for c in channel_diff.diff_channels(a, b, discover=False)}
    assert changes["guix"].change == "updated" and changes["guix"].relation == "unknown"
    assert changes["extra"].change == "removed" and changes["other"].change == "added"
    moved = channel_diff.diff_channels([pin(V1_4_0)], [pin(V1_4_0, url="https://git.guix.gnu.org/guix.git")],
                            discover=False)
    assert moved == ()  # the same channel at its new home
    renamed = channel_diff.diff_channels([pin(V1_4_0)], [pin(V1_4_0, url="https://example.org/g")],
                              discover=False)
    assert renamed[0].change == "url-changed"


def test_channel_commits_dates_and_direction_from_a_clone(tmp_path):
    repo = new_repo(tmp_path / "guix")
    c1 = commit_files(repo, {"a": "1"}, "one", "2023-06-01T10:00:00Z")
    commit_files(repo, {"a": "2"}, "two", "2023-09-01T10:00:00Z")
    c3 = commit_files(repo, {"a": "3"}, "three", "2024-05-10T10:00:00Z")
    git(repo, "checkout", "-q", "-b", "side", c1)
    c4 = commit_files(repo, {"b": "x"}, "side", "2023-07-01T10:00:00Z")
    repos = {"guix": repo}
    up = channel_diff.diff_channels([pin(c1)], [pin(c3)], repos)[0]
    assert (up.relation, up.ahead, up.behind) == ("descends", 2, 0)
    assert up.date_a.startswith("2023-06-01") and up.date_b.startswith("2024-05-10")
    assert "2023-06-01 → 2024-05-10, 2 commits forward" in human._channel_line(up, False)
    down = channel_diff.diff_channels([pin(c3)], [pin(c1)], repos)[0]
    assert (down.relation, down.behind) == ("ancestor", 2)
    assert "DOWNGRADE" in human._channel_line(down, False)
    side = channel_diff.diff_channels([pin(c3)], [pin(c4)], repos)[0]
    assert (side.relation, side.ahead, side.behind) == ("diverged", 1, 2)
    unknown = channel_diff.diff_channels([pin(c1)], [pin(C_2024_05)], repos)[0]
    assert unknown.relation == "unknown" and unknown.date_b is None


def test_channel_repo_option_parsing(tmp_path):
    assert channel_diff.parse_channel_repos([f"guix={tmp_path}"]) == {"guix": tmp_path}
    from vmfleet.errors import UsageError

    for bad in ("guix", f"={tmp_path}", "guix=/no/such/dir"):
        with pytest.raises(UsageError):
            channel_diff.parse_channel_repos([bad])


# --- whole images ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """The two test images copied under short names, so outputs do not hold temp paths."""
    where = tmp_path_factory.mktemp("pair")
    shutil.copy(image("web-a").path, where / "a.qcow2")
    shutil.copy(image("web-b").path, where / "b.qcow2")
    return where


def test_image_diff_layers(pair):
    a = operands.load_side(str(pair / "a.qcow2"))
    b = operands.load_side(str(pair / "b.qcow2"))
    r = compare.compare(a, b)
    # Two images have no recorded inputs: that layer is left out, not skipped.
    assert not r.equal and r.compared == tuple(x for x in sides.LAYERS if x != "inputs")
    assert r.skipped == ()
    assert [(c.commit_a, c.commit_b) for c in r.channels] == [(C_OLD, C_NEW)]
    assert r.config.packages_added == ("curl",)
    assert {c.name: c.change for c in r.packages.changes}["nginx"] == "upgraded"
    assert {c.path for c in r.files} >= {"/etc/hostname", "/etc/new.conf", "/etc/old.conf"}
    validate(json_out.to_json(r))


def test_an_image_equals_itself(pair):
    a = operands.load_side(str(pair / "a.qcow2"))
    r = compare.compare(a, a)
    assert r.equal
    data = json_out.to_json(r)
    validate(data)
    assert {v["status"] for v in data["layers"].values()} == {"equal"}


def test_layers_unknown_on_one_side_are_skipped(pair):
    a = operands.load_side(str(pair / "a.qcow2"), files=False)
    nop = operands.load_side(image("no-provenance").path.as_posix(), files=False)
    r = compare.compare(a, nop)
    skipped = {s.layer: s.reason for s in r.skipped}
    assert set(skipped) == {"channels", "config", "files"}
    assert "--save-provenance" in skipped["channels"]
    assert r.compared == ("packages",)
    data = json_out.to_json(r)
    validate(data)
    assert data["layers"]["files"]["status"] == "skipped"


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_diff_matches_the_stored_outputs(pair, capsys, monkeypatch):
    monkeypatch.chdir(pair)
    code, out, err = run_cli(capsys, "diff", "a.qcow2", "b.qcow2", "--files", "--text")
    assert code == 1, err
    assert "\x1b[" not in out  # no colour when stdout is not a terminal
    golden.check("diff/web-a-b.txt", out)
    code, out, _ = run_cli(capsys, "diff", "a.qcow2", "b.qcow2", "--json")
    assert code == 1
    validate(json.loads(out))
    golden.check("diff/web-a-b.json", out)


def test_cli_diff_exit_status_and_errors(pair, capsys, monkeypatch):
    monkeypatch.chdir(pair)
    code, out, _ = run_cli(capsys, "diff", "a.qcow2", "a.qcow2")
    assert code == 0 and "same" in out
    code, out, _ = run_cli(capsys, "diff", "a.qcow2", "b.qcow2", "--layers", "files", "--color",
                           "always")
    assert code == 1 and "\x1b[32madded" in out and "packages" not in out
    code, _, err = run_cli(capsys, "diff", "a.qcow2", "b.qcow2", "--layers", "nope")
    assert code == 2 and "unknown layer nope" in err
    code, _, err = run_cli(capsys, "diff", "a.qcow2", "./missing.qcow2")
    assert code == 2 and "no such image file" in err
    Path("junk.qcow2").write_text("junk")
    code, _, err = run_cli(capsys, "diff", "a.qcow2", "junk.qcow2")
    assert code == 2 and "not a disk image" in err and "hint:" in err


def test_cli_inspect(pair, capsys, monkeypatch):
    monkeypatch.chdir(pair)
    code, out, _ = run_cli(capsys, "inspect", "b.qcow2")
    assert code == 0
    assert f"guix  {C_NEW}" in out and "3: curl 8.0.1, hello 2.12, nginx 1.25.0" in out
    code, out, _ = run_cli(capsys, "inspect", "b.qcow2", "--json", "--files")
    assert code == 0 and json.loads(out)["files"]
    code, out, _ = run_cli(capsys, "inspect", "b.qcow2", "--config")
    assert code == 0 and out.startswith(";; web: a test system")


def _register_build(reg: Registry, gen, image_path: Path) -> None:
    sha = gen.inputs_sha256  # any unique key will do for the images table
    with reg.write():
        reg.execute("INSERT INTO images (sha256, size, path, created) VALUES (?,?,?,?)",
                    (sha, image_path.stat().st_size, str(image_path), "2024-01-01T00:00:00Z"))
        reg.execute(
            "INSERT INTO builds (generation_id, inputs_key, builder, command, status, "
            "store_path, image_sha256, image_size, started) VALUES (?,?,?,?,?,?,?,?,?)",
            (gen.id, sha, "local", "[]", "succeeded", "/gnu/store/x-image.qcow2", sha,
             image_path.stat().st_size, "2024-01-01T00:00:00Z"))


def test_cli_diff_of_generation_specs(pair, capsys, tmp_path):
    home = tmp_path / "home"
    code, _, err = run_cli(capsys, "--home", str(home), "init")
    assert code == 0, err
    reg = Registry.open(home / "registry.db")
    for n, key, when in ((1, "a", "2023-06-01T00:00:00Z"), (2, "b", "2024-05-01T00:00:00Z"),
                         (3, None, "2024-06-01T00:00:00Z")):
        built = image("web-a" if key == "a" else "web-b")
        inputs = generations.Inputs("web.scm", built.layout.config_text + ("" if key else ";;\n"),
                                    built.layout.channels_text,
                                    {"vmfleet.pub": b"key\n"})
        gen, _ = generations.record(reg, "web", inputs, current_from=when)
        assert gen.number == n
        if key:
            _register_build(reg, gen, pair / f"{key}.qcow2")
    reg.close()
    code, out, err = run_cli(capsys, "--home", str(home), "diff", "web@1", "web@2")
    assert code == 1, err
    assert "--- a: web@1" in out and "upgraded   nginx*" in out
    code, out, err = run_cli(capsys, "--home", str(home), "diff", "web@2", "web@3", "--json")
    data = json.loads(out)
    validate(data)
    assert data["layers"]["packages"] == {
        "status": "skipped", "reason": "web@3 has no built image: vmfleet build web@3"}
    assert data["layers"]["config"]["text_changed"] is True
    assert code == 1
    # A generation and the image built from it: nothing differs.
    code, out, err = run_cli(capsys, "--home", str(home), "diff", "web@1", str(pair / "a.qcow2"))
    assert code == 0, out + err


def test_links_moving_into_a_new_store_item_are_one_line():
    old, new = "/gnu/store/" + "a" * 32 + "-busybox-1.36.0", "/gnu/store/" + "b" * 32 + \
        "-busybox-1.36.1"
    a = [ff(f"/bin/{n}", "symlink", 0o777, target=f"{old}/bin/busybox") for n in "xyzw"]
    b = [ff(f"/bin/{n}", "symlink", 0o777, target=f"{new}/bin/busybox") for n in "xyzw"]
    a.append(ff("/etc/static", "symlink", 0o777, target="/gnu/store/" + "c" * 32 + "-etc"))
    b.append(ff("/etc/static", "symlink", 0o777, target="/gnu/store/" + "d" * 32 + "-etc"))
    files = file_diff.diff_files(a, b)
    assert len(files) == 5  # JSON keeps every link
    text = human.render(_diff_of(files=files))
    assert "4 symlinks (/bin/w, /bin/x, /bin/y, …)  target busybox-1.36.0 → busybox-1.36.1" \
        in text
    assert "/etc/static  target" in text  # a single moved link is shown as itself


def test_packages_never_pair_with_an_unrelated_package():
    """Guix's rule splits emacs-2048-game as emacs / 2048-game-…: paired with emacs, a new game
    looked like an emacs downgrade. Outputs (-lib) are their own rows, not versions."""
    a = facts({"emacs-29.1": 100, "guile-3.0.9": 50, "gcc-11.3.0-lib": 10})
    b = facts({"emacs-29.1": 100, "emacs-2048-game-20151026.1233": 5, "guile-3.0.9": 50,
               "guile-8sync-0.4.2": 7, "gcc-12.3.0-lib": 11})
    d = package_diff.diff_packages(a, b)
    got = {c.name: (c.change, c.versions_a, c.versions_b) for c in d.changes}
    assert got == {"emacs-2048-game": ("added", (), ("20151026.1233",)),
                   "guile-8sync": ("added", (), ("0.4.2",)),
                   "gcc:lib": ("upgraded", ("11.3.0",), ("12.3.0",))}


def test_the_manifest_names_what_it_lists():
    """Where the profile manifest lists an item, its (NAME VERSION OUTPUT) is the name."""
    item = f"/gnu/store/{_hash(7)}-chicken-srfi-1-0.5.1"
    a = facts({})
    b = dataclasses.replace(facts({"chicken-srfi-1-0.5.1": 5}), packages=(
        Package("chicken-srfi-1", "0.5.1", "out", item),))
    b = dataclasses.replace(b, items=(StoreItem(item, 5),))
    [change] = package_diff.diff_packages(a, b).changes
    assert (change.name, change.versions_b, change.requested) == ("chicken-srfi-1", ("0.5.1",), True)


def test_the_inputs_layer_shows_a_changed_local_file_when_the_config_is_the_same(capsys, tmp_path):
    """Issue 16: 'config  same' and exit 0 when only a local file, a module or an included
    file changed. The inputs layer lists each input with its role, size, sha256 and diff."""
    home = tmp_path / "home"
    code, _, err = run_cli(capsys, "--home", str(home), "init")
    assert code == 0, err
    reg = Registry.open(home / "registry.db")
    built = image("web-a")
    for when, key, module in (("2023-06-01T00:00:00Z", b"key one\n", b"(define-module (m))\n"),
                              ("2023-07-01T00:00:00Z", b"key two\n", b"(define-module (m))\n"),
                              ("2023-08-01T00:00:00Z", b"key two\n", b"(define-module (m))\n;;\n")):
        inputs = generations.Inputs("web.scm", built.layout.config_text,
                                    built.layout.channels_text,
                                    {"vmfleet.pub": key, "lib/m.scm": module},
                                    roles={"vmfleet.pub": "local-file", "lib/m.scm": "module"})
        generations.record(reg, "web", inputs, current_from=when)
    reg.close()
    code, out, err = run_cli(capsys, "--home", str(home), "diff", "web@1", "web@2",
                             "--layers", "config,inputs")
    assert code == 1, out + err
    assert "config  same" in out
    line = next(ln for ln in out.splitlines() if "vmfleet.pub" in ln and "local-file" in ln)
    assert line.split()[:3] == ["changed", "local-file", "vmfleet.pub"] and "(+1 -1)" in line
    assert "-key one" in out and "+key two" in out
    code, out, err = run_cli(capsys, "--home", str(home), "diff", "web@2", "web@3", "--json",
                             "--layers", "config,inputs")
    assert code == 1
    data = json.loads(out)
    validate(data)
    (change,) = data["layers"]["inputs"]["changes"]
    assert (change["role"], change["path"], change["change"]) == ("module", "lib/m.scm", "changed")
    assert change["size_b"] == change["size_a"] + 3 and change["added_lines"] == 1
    code, out, err = run_cli(capsys, "--home", str(home), "generations", "web")
    assert "module lib/m.scm changed" in out and "local-file vmfleet.pub changed" in out
