"""diff --content: store items of the same name compared file by file, read from two real ext4
file systems (made with mkfs.ext4 -d, read back with debugfs like any image)."""

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import jsonschema
import pytest

from vmfleet.diff import compare, content, human, json_out
from vmfleet.diff.sides import Side
from vmfleet.guix.store import NIX_BASE32, StoreItem
from vmfleet.inspect.facts import ImageFacts

ROOT = Path(__file__).resolve().parents[2]


def h(key: str) -> str:
    d = hashlib.sha256(key.encode()).digest()
    return "".join(NIX_BASE32[b % 32] for b in d[:32])


def sp(name: str, key: str) -> str:
    return f"/gnu/store/{h(key)}-{name}"


def elf_pair(work: Path) -> tuple[bytes, bytes]:
    """A real ELF file and the same with one section added (objcopy)."""
    a = work / "a.elf"
    shutil.copy("/usr/bin/true", a)
    (work / "note").write_bytes(b"vmfleet test section\n")
    b = work / "b.elf"
    subprocess.run(["objcopy", "--add-section", f".vmfleet={work / 'note'}", str(a), str(b)],
                   check=True)
    return a.read_bytes(), b.read_bytes()


def build_fs(tree: Path, out: Path) -> Path:
    subprocess.run(["truncate", "-s", "16M", str(out)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), "-E", "root_owner=0:0",
                    str(out)], check=True, env={**os.environ, "E2FSPROGS_FAKE_TIME": "1700000000"})
    return out


def write(root: Path, path: str, data: bytes | str, mode=0o444) -> None:
    f = root / path.lstrip("/")
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_bytes(data if isinstance(data, bytes) else data.encode())
    os.chmod(f, mode)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    work = tmp_path_factory.mktemp("content")
    elf_a, elf_b = elf_pair(work)
    sides = {}
    for side in ("a", "b"):
        tree = work / f"tree-{side}"
        zlib = sp("zlib-1.3", "zlib")                               # the same in both
        libx = sp("libx-1.0", f"libx{side}")                         # rebuilt: content differs
        app = sp("app-2.0", f"app{side}")                            # rebuilt: references only
        docs = sp("docs-1.0", f"docs{side}")                         # rebuilt: identical bytes
        boot = sp("boot", f"boot{side}")                             # one-file item
        write(tree, f"{zlib}/lib/libz.so.1", b"zlib" * 100)
        write(tree, f"{libx}/lib/libx.so.1", elf_a if side == "a" else elf_b, 0o555)
        write(tree, f"{libx}/share/doc/README", f"libx 1.0, installed in {libx}\n")
        write(tree, f"{app}/bin/app", f"#!{libx}/bin/sh\nexec {libx}/lib/x \"$@\"\n", 0o555)
        (tree / app.lstrip("/") / "lib").mkdir()
        (tree / app.lstrip("/") / "lib" / "libx.so.1").symlink_to(f"{libx}/lib/libx.so.1")
        write(tree, f"{app}/share/data", b"\x00" * 5000)
        write(tree, f"{docs}/share/doc/docs.txt", "the same words\n")
        write(tree, boot, f"boot script {'one' if side == 'a' else 'two'} for {app}\n", 0o555)
        items = tuple(StoreItem(p, 1000) for p in sorted((zlib, libx, app, docs, boot)))
        sides[side] = (build_fs(tree, work / f"{side}.img"), items)
    return sides


def test_each_item_is_identical_references_only_or_content(images):
    (img_a, items_a), (img_b, items_b) = images["a"], images["b"]
    c = content.compare_images(str(img_a), str(img_b), items_a, items_b)
    verdicts = {i.name: i.verdict for i in c.items}
    assert verdicts == {"app-2.0": "references", "boot": "content", "docs-1.0": "identical",
                        "libx-1.0": "content"}
    assert c.same_hash == 1 and c.count("identical") == 2
    libx = next(i for i in c.items if i.name == "libx-1.0")
    diffs = {d.path: d for d in libx.differences}
    assert diffs["share/doc/README"].how == "references"
    so = diffs["lib/libx.so.1"]
    assert so.how == "content" and so.size_b > so.size_a
    assert ".vmfleet" in so.sections and ".text" not in so.sections
    app = next(i for i in c.items if i.name == "app-2.0")
    assert {d.path: d.how for d in app.differences} == {"bin/app": "references",
                                                       "lib/libx.so.1": "references"}
    boot = next(i for i in c.items if i.name == "boot")
    assert [(d.path, d.how) for d in boot.differences] == [("", "content")]
    # only the items that differ were read, and only their files
    assert 0 < c.bytes_read < 200_000
    line = content.summary_line(c)
    assert line == ("same bytes: 2 items identical · 1 differ only in references to other "
                    "rebuilt items · 2 differ in content: boot, libx-1.0 (1 file: "
                    "lib/libx.so.1)")


def test_elf_sections_agree_with_readelf(tmp_path):
    a, b = elf_pair(tmp_path)
    names = list(content.read_sections(b))
    out = subprocess.run(["readelf", "-S", "-W", str(tmp_path / "b.elf")], check=True,
                         capture_output=True, text=True).stdout
    listed = [line.split("]", 1)[1].split()[0] for line in out.splitlines()
              if line.strip().startswith("[") and "]" in line and not line.strip().startswith("[Nr]")]
    assert names == [n for n in listed if n != "NULL"][:len(names)]
    assert content.elf_sections(a, b) == (".shstrtab", ".vmfleet") or \
        set(content.elf_sections(a, b)) >= {".vmfleet"}
    assert content.read_sections(b"not an elf") is None
    assert content.read_sections(b"\x7fELF" + b"\x02\x01" + b"\xff" * 100) is None  # bad offsets


def test_store_hashes_are_replaced_by_one_placeholder_of_the_same_length():
    x = b"ref /gnu/store/" + h("a").encode() + b"-glibc-2.35/lib"
    y = b"ref /gnu/store/" + h("b").encode() + b"-glibc-2.35/lib"
    assert x != y and content.normalize(x) == content.normalize(y)
    assert len(content.normalize(x)) == len(x)
    assert content.normalize(b"/gnu/store/short-x") == b"/gnu/store/short-x"


def _side(label, img, items):
    facts = ImageFacts(source=str(img), kind="image", system=None, generation=None,
                       provenance=None, channels_scm=None, configuration=None, packages=(),
                       items=items, closure_size=None, store_source="database")
    return Side(label=label, kind="image", source=str(img), facts=facts)


def test_compare_renders_the_summary_first_and_json_follows_the_schema(images):
    (img_a, items_a), (img_b, items_b) = images["a"], images["b"]
    d = compare.compare(_side("a", img_a, items_a), _side("b", img_b, items_b),
                        layers=("packages",), content=True, show_all=True)
    text = human.render(d)
    assert text.splitlines()[2].startswith("same bytes: 2 items identical")
    assert "content          libx-1.0  (2 files compared)" in text
    assert "references only  app-2.0" in text and "identical        docs-1.0" in text
    assert "unchanged  zlib  1.3" in text
    data = json_out.to_json(d)
    schema = __import__("json").loads((ROOT / "docs" / "diff.schema.json").read_text())
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    assert data["content"]["content"] == 2 and len(data["content"]["items"]) == 4


def test_content_of_a_vm_is_skipped_with_the_reason(images):
    (img_a, items_a), (img_b, items_b) = images["a"], images["b"]
    vm = _side("vm:web", img_b, items_b)
    vm = Side(label="vm:web", kind="vm", source="web", facts=ImageFacts(
        source="vm:web", kind="vm", system=None, generation=None, provenance=None,
        channels_scm=None, configuration=None, packages=(), items=items_b, closure_size=None,
        store_source="database"))
    d = compare.compare(_side("a", img_a, items_a), vm, layers=("packages",), content=True)
    assert d.content is None and "not running VMs" in d.content_skipped


def test_two_results_of_a_check_are_compared_file_by_file(images, tmp_path):
    """check: guix build --check --keep-failed leaves OUT and OUT-check; their file systems
    are compared whole (here two ext4 file systems, as a partition.img is)."""
    (img_a, _), (img_b, _) = images["a"], images["b"]
    c = content.compare_outputs(str(img_a), str(img_b))
    assert c.verdict == "content"
    hows = {d.path: d.how for d in c.differences}
    # the store items were named differently: whole trees added and removed, by path
    assert any(p.endswith("-libx-1.0") and h == "added" for p, h in hows.items())
    assert not any(p.endswith("libz.so.1") for p in hows)     # the same file in both
    assert content.compare_outputs(str(img_a), str(img_a)).verdict == "identical"
    # not an image: the two files' bytes
    (tmp_path / "x").write_text("genimage /gnu/store/" + h("1") + "-partition.img\n")
    (tmp_path / "x-check").write_text("genimage /gnu/store/" + h("2") + "-partition.img\n")
    c = content.compare_outputs(str(tmp_path / "x"), str(tmp_path / "x-check"))
    assert (c.verdict, [d.how for d in c.differences]) == ("references", ["references"])
