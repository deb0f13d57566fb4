"""Reading images offline: raw views, partition tables, the Guix root, files through debugfs."""

import os
import shutil
import subprocess

import pytest

from tests.helpers.diskimage import image, make_disk, write_file
from vmfleet.errors import ImageError
from vmfleet.inspect import disk
from vmfleet.inspect.disk import fuse_available, open_disk, read_partition_table
from vmfleet.tools.run import pid_alive


def _mounts() -> str:
    with open("/proc/self/mountinfo") as f:
        return f.read()


def test_qcow2_with_mbr_root_found_by_content_not_by_number():
    built = image("web-a")
    with open_disk(built.path) as d:
        assert d.method == ("fuse" if fuse_available() else "convert")
        table = d.partition_table()
        assert table.label == "dos"
        assert [p.number for p in table.partitions] == [1, 2]
        assert table.partitions[0].bootable
        part, fs = d.guix_root()
        assert part.number == 2 and part.start == 4096 * 512
        assert fs.exists("/gnu/store")


def test_gpt_table():
    with open_disk(image("web-a-gpt").path) as d:
        table = d.partition_table()
        assert table.label == "gpt"
        assert table.partitions[1].type.upper() == "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
        part, _fs = d.guix_root()
        assert part.number == 2


def test_raw_images_are_read_in_place():
    built = image("web-a-raw")
    with open_disk(built.path) as d:
        assert d.method == "direct"
        _part, fs = d.guix_root()
        assert fs.read_text("/etc/hostname") == "web\n"


def test_convert_fallback_reads_the_same():
    built = image("web-a")
    with open_disk(built.path, method="convert") as d:
        assert d.method == "convert"
        _part, fs = d.guix_root()
        names = sorted(e.name for e in fs.listdir("/gnu/store"))
    assert set(names) == {p.rsplit("/", 1)[1] for p in built.items}


@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and qemu-storage-daemon")
def test_fuse_export_is_gone_after_the_block_even_on_errors():
    built = image("web-a")
    with pytest.raises(RuntimeError), open_disk(built.path) as d:
        raw, workdir = str(d.raw), d.workdir
        pid = int((workdir / "qsd.pid").read_text())
        assert raw in _mounts()
        raise RuntimeError("boom")
    assert raw not in _mounts()
    assert not workdir.exists()
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/stat").read().split(")")[-1].split()[0] == "Z"


def test_files_through_debugfs():
    built = image("web-a")
    with open_disk(built.path) as d:
        _part, fs = d.guix_root()
        by_name = {e.name: e for e in fs.listdir("/etc")}
        secret = by_name["secret"]
        assert (secret.kind, secret.perm, secret.uid, secret.gid, secret.size) == \
            ("file", 0o600, 0, 0, 7)
        assert by_name["static"].kind == "symlink"
        # system -> system-1-link (a fast symlink) -> /gnu/store/…-system (a slow one)
        assert fs.readlink("/var/guix/profiles/system") == "system-1-link"
        assert fs.readlink("/var/guix/profiles/system-1-link") == built.system
        assert fs.realpath("/var/guix/profiles/system") == built.system
        assert fs.realpath("/var/guix/profiles/system/profile/manifest").startswith("/gnu/store/")
        assert fs.read_text("/var/guix/profiles/system/profile/manifest").startswith("(manifest")
        walked = dict(fs.walk("/", prune=lambda p: p == "/gnu/store"))
        assert "/etc/secret" in walked and "/gnu" in walked
        assert not any(p.startswith("/gnu/store") for p in walked)
        with pytest.raises(ImageError, match="does not exist"):
            fs.lookup("/etc/nope")
        assert not fs.exists("/etc/nope")


def test_odd_file_names(tmp_path):
    tree = tmp_path / "tree"
    write_file(tree, "/gnu/store/README", "x")
    write_file(tree, '/etc/we ird/q"uote', "quoted\n")
    write_file(tree, "/etc/ünïcode", "u\n")
    write_file(tree, "/etc/long-link", ("link", "/x" * 50))
    work = tmp_path / "work"
    work.mkdir()
    path = make_disk(tree, tmp_path / "odd.qcow2", work=work)
    with open_disk(path) as d:
        _part, fs = d.guix_root()
        assert fs.read_text('/etc/we ird/q"uote') == "quoted\n"
        assert fs.read_text("/etc/ünïcode") == "u\n"
        assert fs.readlink("/etc/long-link") == "/x" * 50


def _qemu_img(*args):
    subprocess.run(["qemu-img", *args], check=True, capture_output=True)


def test_not_a_disk_image(tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 1000)
    with pytest.raises(ImageError, match="not a disk image"), open_disk(text):
        pass


def test_a_qcow2_that_holds_no_disk(tmp_path):
    empty = tmp_path / "empty.qcow2"
    _qemu_img("create", "-q", "-f", "qcow2", str(empty), "20M")
    with pytest.raises(ImageError, match="no partition table and no file system"), \
            open_disk(empty):
        pass


def test_truncated_qcow2(tmp_path):
    data = image("web-a").path.read_bytes()
    cut = tmp_path / "cut.qcow2"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageError, match="truncated") as e, open_disk(cut):
        pass
    assert "copy the image again" in e.value.hint


def test_corrupt_qcow2(tmp_path):
    data = bytearray(image("web-a").path.read_bytes())
    data[0x30000:0x30100] = b"\xff" * 0x100   # the L1 table of a fresh qemu-img convert
    bad = tmp_path / "bad.qcow2"
    bad.write_bytes(bytes(data))
    with pytest.raises(ImageError, match="corrupt|truncated"), open_disk(bad):
        pass


def test_garbage_with_a_qcow2_header(tmp_path):
    junk = tmp_path / "junk.qcow2"
    junk.write_bytes(b"QFI\xfb" + os.urandom(100_000))
    with pytest.raises(ImageError, match="not a readable disk image"), open_disk(junk):
        pass


def test_missing_and_directory(tmp_path):
    with pytest.raises(ImageError, match="no such file"), open_disk(tmp_path / "nope.qcow2"):
        pass
    with pytest.raises(ImageError, match="directory"), open_disk(tmp_path):
        pass


def test_no_guix_root():
    with open_disk(image("not-guix").path) as d, \
            pytest.raises(ImageError, match="no partition holds a Guix root") as e:
        d.guix_root()
    assert "2: ext4 without /gnu/store" in e.value.message
    assert "1: not ext4" in e.value.message


def test_bare_file_system_without_partition_table(tmp_path):
    tree = tmp_path / "tree"
    write_file(tree, "/gnu/store/README", "x")
    fs_img = tmp_path / "fs.ext4"
    subprocess.run(["truncate", "-s", "8M", str(fs_img)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-d", str(tree), str(fs_img)], check=True,
                   capture_output=True)
    table = read_partition_table(fs_img)
    assert table.label == "none" and table.partitions[0].start == 0


@pytest.mark.skipif(shutil.which("qemu-storage-daemon") is None, reason="no qemu-storage-daemon")
def test_fuse_failure_falls_back_to_convert(monkeypatch):
    def broken_start(self):
        from vmfleet.errors import CommandFailed

        raise CommandFailed("qemu-storage-daemon could not export")

    monkeypatch.setattr(disk._FuseExport, "start", broken_start)
    with open_disk(image("web-a").path) as d:
        assert d.method == "convert"
        assert d.guix_root()[1].exists("/gnu/store")


def test_batched_reads_are_not_fooled_by_file_contents(tmp_path):
    """Many files are read in one debugfs run and cut by their sizes, whatever they contain."""
    import hashlib

    tree = tmp_path / "tree"
    write_file(tree, "/gnu/store/README", "x")
    contents = {f"/etc/f{i}": (b"debugfs: cat <%d>\n" % (12 + i)) * i + os.urandom(i * 37)
                for i in range(40)}
    contents["/etc/empty"] = b""
    for path, data in contents.items():
        write_file(tree, path, data)
    for i in range(30):  # long (slow) and short (fast) symlinks
        write_file(tree, f"/etc/l{i}", ("link", ("/gnu/store/" + "x" * 40 + f"/{i}")
                                        if i % 2 else f"t{i}"))
    work = tmp_path / "work"
    work.mkdir()
    path = make_disk(tree, tmp_path / "d.qcow2", work=work)
    with open_disk(path) as d:
        _part, fs = d.guix_root()
        entries = {f"/etc/{e.name}": e for e in fs.listdir("/etc")}
        files = [entries[p] for p in contents]
        runs = fs.debugfs_runs
        hashes = fs.hash_many(files)
        assert fs.debugfs_runs == runs + 1
        assert {p: hashes[entries[p].ino][0] for p in contents} == \
            {p: hashlib.sha256(c).hexdigest() for p, c in contents.items()}
        links = fs.readlinks([e for e in entries.values() if e.is_symlink])
        assert sorted(links.values()) == sorted(
            ("/gnu/store/" + "x" * 40 + f"/{i}") if i % 2 else f"t{i}" for i in range(30))


@pytest.mark.skipif(not fuse_available(), reason="needs /dev/fuse and qemu-storage-daemon")
def test_a_fuse_export_that_times_out_leaves_no_daemon_and_no_mount(monkeypatch):
    from vmfleet.errors import CommandTimeout

    real_run = disk.run
    seen = {}

    def slow_daemon(argv, **kw):
        res = real_run(argv, **kw)
        if "qemu-storage-daemon" in argv[0]:
            # The daemon came up and mounted, but too late: run() gave up waiting on it.
            pidfile = argv[argv.index("--pidfile") + 1]
            seen["pid"] = int(open(pidfile).read())
            seen["mount"] = argv[-1].split("mountpoint=")[1].split(",")[0]
            assert seen["mount"] in _mounts()
            raise CommandTimeout("qemu-storage-daemon took longer than 60 s")
        return res

    monkeypatch.setattr(disk, "run", slow_daemon)
    try:
        with open_disk(image("web-a").path) as d:
            assert d.method == "convert"
        assert seen["mount"] not in _mounts()
        assert not pid_alive(seen["pid"])
    finally:  # a regression must not leave the daemon behind
        if "pid" in seen and pid_alive(seen["pid"]):
            os.kill(seen["pid"], 15)
