"""inspect_image and adopt_image on small Guix-layout images (no root, no VM)."""

import hashlib
import json
import os
import subprocess

import pytest

from tests.helpers.diskimage import C_OLD, TEST_KEY, image, layout_web_a, make_tree
from vmfleet.adopt import adopt_image
from vmfleet.errors import ImageError
from vmfleet.inspect.facts import inspect_image
from vmfleet.inspect.remote_facts import read_remote_facts
from vmfleet.inspect.report import facts_to_json, render_facts
from vmfleet.registry import generations


def test_facts_of_an_image_with_provenance():
    built = image("web-a")
    f = inspect_image(built.path)
    assert f.system == built.system and f.generation == 1
    assert [(c.name, c.commit) for c in f.provenance.channels] == [("guix", C_OLD)]
    assert f'(commit "{C_OLD}")' in f.channels_scm
    assert f.configuration == built.layout.config_text
    assert [(p.name, p.version) for p in f.packages] == [("hello", "2.12"), ("nginx", "1.23.3")]
    assert {p.path for p in f.packages} == {built.package_paths["hello"],
                                            built.package_paths["nginx"]}
    assert {i.path for i in f.items} == set(built.items)
    assert f.closure_size == sum(built.items.values())
    assert f.store_source == "database" and f.warnings == ()
    assert (f.format, f.partition_table, f.root_partition) == ("qcow2", "dos", 2)
    assert f.files is None


def test_files_outside_the_store():
    f = inspect_image(image("web-a").path, files=True, texts=True)
    files = {x.path: x for x in f.files}
    assert files["/etc/secret"].mode == 0o600
    assert files["/etc/hostname"].sha256 == hashlib.sha256(b"web\n").hexdigest()
    assert files["/etc/hostname"].text == "web\n"
    assert files["/etc/static"].kind == "symlink"
    assert files["/etc/static"].target.endswith("-etc/etc")
    assert files["/var/guix/profiles/system"].target == "system-1-link"
    assert files["/etc"].kind == "dir"
    assert not [p for p in files if p.startswith(("/gnu/store", "/var/guix/db"))]
    assert [x.path for x in f.files] == sorted(files)


def test_image_without_store_database_lists_the_store():
    built = image("no-db")
    f = inspect_image(built.path)
    assert f.store_source == "listing"
    assert {i.path for i in f.items} == set(built.items)
    assert f.closure_size is None and all(i.nar_size is None for i in f.items)
    assert any("no store database" in w for w in f.warnings)


def test_image_without_provenance_says_what_is_missing():
    f = inspect_image(image("no-provenance").path)
    assert f.provenance is None and f.configuration is None and f.channels_scm is None
    assert f.packages  # the manifest is there all the same
    assert any("--save-provenance" in w for w in f.warnings)
    assert "provenance none (built without --save-provenance)" in render_facts(f)


def test_manifest_version_3():
    f = inspect_image(image("manifest-v3").path)
    assert [p.name for p in f.packages] == ["hello", "nginx"]


def test_not_a_guix_image():
    with pytest.raises(ImageError, match="no partition holds a Guix root"):
        inspect_image(image("not-guix").path)


def test_inspection_is_fast(monkeypatch):
    # What makes it fast is batching: a few debugfs runs, not one per file or directory.
    # (Counted rather than timed: a wall-clock bound is flaky on a loaded machine.)
    from vmfleet.inspect import ext4 as imagefs

    runs = []
    real_run = imagefs.run

    def counting_run(argv, **kw):
        runs.append(argv)
        return real_run(argv, **kw)

    monkeypatch.setattr(imagefs, "run", counting_run)
    facts = inspect_image(image("web-b").path, files=True, texts=True)
    assert facts.files and facts.packages
    debugfs_runs = [a for a in runs if os.path.basename(a[0]) == "debugfs"]
    assert 0 < len(debugfs_runs) <= 25  # 18 today; one run per file would be far more


def test_json_form():
    data = facts_to_json(inspect_image(image("web-b").path, files=True))
    assert data["system"].endswith("-system")
    assert data["provenance"]["channels"][0]["name"] == "guix"
    assert {p["name"] for p in data["packages"]} == {"curl", "hello", "nginx"}
    assert data["closure"]["items"] == len(data["items"])
    assert {"path": "/etc/secret", "kind": "file", "mode": "0644"}.items() <= \
        next(f for f in data["files"] if f["path"] == "/etc/secret").items()


def test_adopt_records_a_rebuildable_generation(reg, tmp_path):
    built = image("web-a")
    result = adopt_image(reg, built.path, "found")
    gen = result.generation
    assert result.created and gen.label == "found@1" and gen.source == "adopted"
    assert gen.guix_commit == C_OLD
    assert result.local_files == ("vmfleet.pub",)
    config, channels = generations.materialize(reg, gen, tmp_path / "out")
    assert config.read_text() == built.layout.config_text
    assert C_OLD in channels.read_text()
    assert (tmp_path / "out" / "vmfleet.pub").read_text() == TEST_KEY
    again = adopt_image(reg, built.path, "found")
    assert not again.created and again.generation.id == gen.id


def test_adopt_without_provenance(reg):
    with pytest.raises(ImageError, match="has no provenance") as e:
        adopt_image(reg, image("no-provenance").path, "found")
    assert "--save-provenance" in e.value.hint


def test_adopt_takes_missing_local_files_from_the_user(reg):
    # The key is in the image's store; an explicit file wins over it.
    result = adopt_image(reg, image("web-a").path, "found", files={"vmfleet.pub": b"other\n"},
                         current_from="2021-05-01T00:00:00Z")
    assert result.current_from == "2021-05-01T00:00:00Z"
    assert result.current_from_source == "option"
    assert generations.inputs_of(reg, result.generation).files == {"vmfleet.pub": b"other\n"}


@pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox")
def test_remote_reading_works_with_busybox_alone(tmp_path):
    """vm: operands run one shell script on the VM; a busybox system must be enough."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for applet in ("sh", "find", "stat", "sha256sum", "readlink", "tar", "wc", "mktemp", "tr",
                   "cat", "ls", "rm", "printf", "echo", "xargs"):
        (bindir / applet).symlink_to("/bin/busybox")
    tree = tmp_path / "tree"
    tree.mkdir()
    lay = layout_web_a()
    system, sizes, _refs, _paths = make_tree(tree, lay)

    class BusyboxConn:
        host, port = "local", 0

        def stream(self, command, out, err, input=None):
            p = subprocess.run([str(bindir / "sh"), "-c", command], capture_output=True,
                               env={"PATH": str(bindir)})
            out.write(p.stdout)
            err.write(p.stderr)
            return p.returncode

    f = read_remote_facts(BusyboxConn(), source="vm:web", root=str(tree), files=True,
                          texts=True)
    assert f.system == system and f.generation == 1 and f.warnings == ()
    assert f.configuration == lay.config_text
    assert {i.path: i.nar_size for i in f.items} == sizes
    files = {x.path: x for x in f.files}
    assert files["/etc/secret"].mode == 0o600 and files["/etc/secret"].text == "s3cret\n"
    assert files["/var/guix/profiles/system-1-link"].target == system


@pytest.mark.skipif(os.geteuid() != 0 or not os.path.exists("/usr/bin/setpriv"),
                    reason="needs root to become another user")
def test_remote_reading_works_unprivileged_and_names_what_it_could_not_read():
    """vmfleet logs into VMs as the user the config lets in, often not root: /etc/secret (0600
    root) is listed as unreadable, everything else is read, nothing fails."""
    import shutil
    import tempfile

    top = tempfile.mkdtemp(prefix="vmfleet-unpriv-")
    try:
        os.chmod(top, 0o755)
        tree = os.path.join(top, "tree")
        os.mkdir(tree)
        lay = layout_web_a()
        system, sizes, _refs, _paths = make_tree(__import__("pathlib").Path(tree), lay)
        os.makedirs(os.path.join(tree, "root"), exist_ok=True)
        open(os.path.join(tree, "root", "hidden"), "w").write("x\n")
        os.chmod(os.path.join(tree, "root"), 0o700)
        for d, dirs, _files in os.walk(tree):
            for x in dirs:
                p = os.path.join(d, x)
                if not p.endswith("/root"):
                    os.chmod(p, os.stat(p).st_mode | 0o055)

        class NobodyConn:
            host, port = "local", 0

            def stream(self, command, out, err, input=None):
                p = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                                    "sh", "-c", command], capture_output=True,
                                   env={"PATH": "/usr/bin:/bin", "TMPDIR": "/tmp"})
                out.write(p.stdout)
                err.write(p.stderr)
                return p.returncode

        f = read_remote_facts(NobodyConn(), source="vm:web", root=tree, files=True, texts=True)
        assert f.system == system and f.configuration == lay.config_text
        assert {i.path: i.nar_size for i in f.items} == sizes
        assert set(f.unreadable) == {"/etc/secret", "/root"}
        files = {x.path: x for x in f.files}
        assert files["/etc/secret"].sha256 is None and files["/etc/secret"].mode == 0o600
        assert files["/etc/hostname"].text == "web\n"
        assert any("could not be read by the login user" in w for w in f.warnings)
        from vmfleet.diff.sides import side_from_facts

        assert "/etc/secret" in side_from_facts("vm:web", f, kind="vm").notes[0]
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_cli_adopt(tmp_path, capsys):
    from vmfleet.cli import main

    home = str(tmp_path / "home")
    assert main(["--home", home, "init"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "adopt", str(image("web-a").path), "--system", "legacy",
                 "--current-from", "2021-05-01", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["generation"], data["created"], data["current_from"]) == \
        ("legacy@1", True, "2021-05-01T00:00:00Z")
    assert data["local_files"] == ["vmfleet.pub"] and data["pins"][0]["commit"] == C_OLD
    assert main(["--home", home, "adopt", str(image("no-provenance").path),
                 "--system", "legacy"]) == 2
    err = capsys.readouterr().err
    assert "has no provenance" in err and "--save-provenance" in err
    assert main(["--home", home, "adopt", str(image("web-a").path), "--system", "legacy",
                 "--file", "nonsense"]) == 2
    assert "bad --file" in capsys.readouterr().err


def _record_build_of(reg, path):
    """The registry knows ``path`` as the image of a build of web@1."""
    lay = layout_web_a()
    reg.migrate()
    gen, _ = generations.record(reg, "web", generations.Inputs("web.scm", lay.config_text,
                                                               lay.channels_text),
                                current_from="2019-06-01T00:00:00Z")
    digest = hashlib.sha256(open(path, "rb").read()).hexdigest()
    reg.execute("INSERT INTO images (sha256, size, path, created) VALUES (?,?,?,?)",
                (digest, 1, str(path), "2019-06-01T00:00:00Z"))
    reg.execute("INSERT INTO builds (generation_id, inputs_key, options, builder, command, status,"
                " started, image_sha256) VALUES (?,?,?,?,?,?,?,?)",
                (gen.id, "k", "{}", "local", "[]", "succeeded", "2019-06-01T00:00:00Z", digest))
    return gen, lay


def test_adopt_without_provenance_names_the_generation_the_registry_knows(reg):
    path = image("no-provenance").path
    gen, _ = _record_build_of(reg, path)
    with pytest.raises(ImageError, match="before 2019-12-07") as e:
        adopt_image(reg, path, "found")
    assert gen.label in e.value.hint


def test_a_side_without_provenance_takes_channels_and_config_from_the_registry(reg):
    from vmfleet.diff.operands import load_side

    path = image("no-provenance").path
    gen, lay = _record_build_of(reg, path)
    side = load_side(str(path), files=False, registry=lambda: reg)
    assert side.config_text == lay.config_text and side.channels[0].commit == C_OLD
    assert "channels" not in side.missing and "config" not in side.missing
    assert side.notes and "registry's record of web@1" in side.notes[0]
    # Without a registry that knows it, the layers stay unknown, with the reason.
    alone = load_side(str(path), files=False, registry=None)
    assert "--save-provenance" in alone.missing["channels"]


# An image built with ``guix system -e '(@ (mod) var)' --save-provenance``: its provenance says
# (configuration-file #f) and its system has no configuration.scm (gnu/services.scm@8e2f32cee982:
# 470-480 and 507-510; guix/scripts/system.scm@8e2f32cee982:1220-1225 passes FILE, #f with -e).
def test_an_image_built_from_an_expression_says_so():
    f = inspect_image(image("expression").path)
    assert f.configuration is None and f.provenance.expression
    assert f.provenance.channels[0].commit == C_OLD
    assert not inspect_image(image("web-a").path).provenance.expression


def test_adopt_of_an_image_built_from_an_expression(reg):
    path = image("expression").path
    with pytest.raises(ImageError) as e:
        adopt_image(reg, path, "found")
    assert "built from an expression" in e.value.message and "before 2019" not in e.value.message
    assert "--save-provenance" not in e.value.hint
    gen, _ = _record_build_of(reg, path)
    with pytest.raises(ImageError) as e:
        adopt_image(reg, path, "found")
    assert gen.label in e.value.hint


def test_a_side_built_from_an_expression_takes_its_config_from_the_registry(reg):
    from vmfleet.diff.operands import load_side

    path = image("expression").path
    alone = load_side(str(path), files=False, registry=None)
    assert "channels" not in alone.missing
    assert "expression" in alone.missing["config"] and "--save-provenance" not in alone.missing["config"]
    gen, lay = _record_build_of(reg, path)
    side = load_side(str(path), files=False, registry=lambda: reg)
    assert side.config_text == lay.config_text and "config" not in side.missing
    assert "expression" in side.notes[0] and "registry's record of web@1" in side.notes[0]


def test_cli_inspect_config_of_an_image_built_from_an_expression(tmp_path, capsys):
    from vmfleet.cli import main

    home = str(tmp_path / "home")
    assert main(["--home", home, "init"]) == 0
    capsys.readouterr()
    assert main(["--home", home, "inspect", str(image("expression").path), "--config"]) == 2
    err = capsys.readouterr().err
    assert "built from an expression" in err and "configuration-file #f" in err
