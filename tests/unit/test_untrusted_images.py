"""Images are untrusted data: a hostile file name, backing file or option-like name changes
nothing but what is reported (issue 12, item 8 and the qemu-img part of item 9)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vmfleet.errors import ImageError
from vmfleet.inspect import disk
from vmfleet.inspect.ext4 import Ext4, _split_sections, parse_ls_p
from vmfleet.tools.run import run


def test_a_name_with_a_newline_and_a_fake_echo_hides_nothing_in_the_parser():
    out = ("debugfs: ls -p <12>\n"
           "/12/040755/0/0/./\n/2/040755/0/0/../\n"
           "/13/100644/0/0/x\ndebugfs: ls -p <2>\ny/5/\n"
           "/14/100644/0/0/after/3/\n"
           "debugfs: ls -p <2>\n/2/040755/0/0/./\n/12/040755/0/0/d/\n")
    sections = _split_sections(out)
    assert [cmd for cmd, _ in sections] == ["ls -p <12>", "ls -p <2>"]
    names = [e.name for e in parse_ls_p(sections[0][1])]
    assert names == ["x\ndebugfs: ls -p <2>\ny", "after"]


def test_a_hostile_file_name_in_a_real_file_system_hides_no_entries(tmp_path):
    tree = tmp_path / "tree"
    (tree / "d").mkdir(parents=True)
    for name in ("a", "x\ndebugfs: ls -p <2>\ny", "z"):
        (tree / "d" / name).write_text("data")
    (tree / "e").write_text("e")
    raw = tmp_path / "fs.raw"
    run(["mkfs.ext4", "-q", "-F", "-d", str(tree), str(raw), "8M"])
    fs = Ext4(raw, 0, "test fs", workdir=tmp_path)
    root = fs.listdir("/")
    d = next(e for e in root if e.name == "d")
    fs.load_dirs([d.ino, 2])  # several listings in one debugfs run: where an echo could be faked
    assert sorted(e.name for e in fs.listdir("/d")) == ["a", "x\ndebugfs: ls -p <2>\ny", "z"]
    assert {"d", "e"} <= {e.name for e in fs.listdir("/")}


def test_an_image_whose_backing_file_is_a_host_path_is_refused_quickly(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    base = tmp_path / "base.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"])
    evil = tmp_path / "evil.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(fifo), "-u",
         str(evil), "16M"])
    ok_backed = tmp_path / "on-base.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
         str(ok_backed)])
    for image in (evil, ok_backed):
        with pytest.raises(ImageError, match="has a backing file"):
            with disk.open_disk(image):
                pass


def test_an_overlay_of_a_recorded_store_image_is_read(tmp_path):
    store_dir = tmp_path / "images"
    store_dir.mkdir()
    base = store_dir / ("0" * 64 + ".qcow2")
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "16M"])
    overlay = tmp_path / "vm.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay)])
    store = disk.StoreImages(Path(os.path.realpath(store_dir)), frozenset({"0" * 64}))
    assert disk.image_info(overlay, store).backing_file == str(base)
    # Issue 22 #1: the name alone proves nothing. Unrecorded, or with no store: refused.
    for other in (None, disk.StoreImages(store.images, frozenset())):
        with pytest.raises(ImageError, match="has a backing file"):
            disk.image_info(overlay, other)
    # A store image named through a link from elsewhere is the same file: accepted.
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "images").symlink_to(store_dir)
    via = tmp_path / "via.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b",
         str(tmp_path / "elsewhere" / "images" / base.name), str(via)])
    assert disk.image_info(via, store).format == "qcow2"


def test_an_image_named_like_an_option_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run(["qemu-img", "create", "-q", "-f", "qcow2", str(tmp_path / "--help.qcow2"), "16M"])
    info = disk.image_info(Path("--help.qcow2"))
    assert info.format == "qcow2" and info.virtual_size == 16 << 20


def test_no_fifo_reaches_qemu_img_check(tmp_path):
    # Before: 'qemu-img check' opened the FIFO backing file and hung (300 s timeout).
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    evil = tmp_path / "evil.qcow2"
    run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", str(fifo), "-u",
         str(evil), "16M"])
    proc = subprocess.run(["timeout", "20", sys.executable, "-c",
                           "import sys; from vmfleet.inspect import disk\n"
                           "try:\n  disk.open_disk(sys.argv[1]).__enter__()\n"
                           "except Exception as e: print(type(e).__name__)", str(evil)],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == "ImageError", proc.stderr


def test_an_absurd_nar_size_is_reported_as_such_not_summed():
    from vmfleet.guix.store import StoreItem
    from vmfleet.inspect.facts import closure_of

    warnings: list[str] = []
    items = [StoreItem("/gnu/store/aaa-ok", 1000), StoreItem("/gnu/store/bbb-evil", 2 ** 62),
             StoreItem("/gnu/store/ccc-neg", -5)]
    assert closure_of(items, warnings) == 1000
    assert len(warnings) == 2 and "bbb-evil claims a NAR size of 4611686018427387904" in warnings[0]


HOSTILE = ("/etc/x\ndebugfs: ls -p etc", "/etc/evil\u202etxt.exe", "/etc/\x1b[8mhidden",
           "/etc/back\\slash")


def _facts_with(names):
    from vmfleet.inspect.facts import FileFact, ImageFacts

    files = tuple(FileFact(n, "file", 0o644, 0, 0, 1) for n in names)
    link = FileFact("/etc/link", "symlink", 0o777, 0, 0, 0, target="/x\n  -rw-r--r-- 0:0 fake")
    return ImageFacts(source="evil.qcow2", kind="image", system=None, generation=None,
                      provenance=None, channels_scm=None, configuration=None, packages=(),
                      items=(), closure_size=None, store_source="listing",
                      files=(*files, link))


def test_names_from_an_image_are_escaped_in_inspect_and_raw_in_json():
    # Issue 22 #6: a newline in a name forged an output line; an RLO was printed as it is.
    from vmfleet.inspect.report import facts_to_json, render_facts

    facts = _facts_with(HOSTILE)
    out = render_facts(facts, files=True)
    assert len(out.splitlines()) == 6 + len(HOSTILE) + 1, out
    assert "/etc/x\\ndebugfs: ls -p etc" in out and "/etc/evil\\u202etxt.exe" in out
    assert "/etc/\\033[8mhidden" in out and "/etc/back\\\\slash" in out
    assert "→ /x\\n  -rw-r--r-- 0:0 fake" in out
    assert not any(c in out for c in "\u202e\x1b")
    assert [f["path"] for f in facts_to_json(facts)["files"]][:len(HOSTILE)] == list(HOSTILE)


def test_names_from_an_image_are_escaped_in_the_files_layer_of_diff():
    import types

    from vmfleet.diff.compare import Diff
    from vmfleet.diff.file_diff import diff_files
    from vmfleet.diff.human import render

    side = types.SimpleNamespace(label="a.qcow2", system=None, notes=())
    changes = diff_files((), _facts_with(HOSTILE).files)
    out = render(Diff(side, side, ("files",), files=changes))
    assert len(out.splitlines()) == 2 + 2 + len(HOSTILE) + 1, out
    assert "/etc/x\\ndebugfs: ls -p etc" in out and "\\u202e" in out and "\x1b" not in out
