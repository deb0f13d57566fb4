import errno
import hashlib
import os

import pytest

from vmfleet.build import store as images
from vmfleet.errors import BuildError
from vmfleet.home import Home


@pytest.fixture
def home(tmp_path):
    return Home(tmp_path / "home")


def test_add_file_is_content_addressed_and_read_only(home, tmp_path):
    data = os.urandom(9 * 1024 * 1024 + 123)  # more than two chunks, not a multiple
    (tmp_path / "img").write_bytes(data)
    stored = images.add_file(home, tmp_path / "img")
    assert stored.sha256 == hashlib.sha256(data).hexdigest() and stored.size == len(data)
    assert stored.path == home.images / f"{stored.sha256}.qcow2"
    assert stored.path.read_bytes() == data
    assert oct(stored.path.stat().st_mode & 0o777) == "0o400"
    assert [p.name for p in home.images.iterdir()] == [stored.path.name]


def test_full_disk_leaves_no_partial_image(home, tmp_path, monkeypatch):
    (tmp_path / "img").write_bytes(b"x" * 1000)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "copy_file_range", full)
    with pytest.raises(BuildError, match="no space left") as e:
        images.add_file(home, tmp_path / "img")
    assert "images gc" in e.value.hint
    assert list(home.images.iterdir()) == []


def test_kernel_copy_unsupported_falls_back(home, tmp_path, monkeypatch):
    data = os.urandom(5 * 1024 * 1024)
    (tmp_path / "img").write_bytes(data)

    def unsupported(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "copy_file_range", unsupported)
    stored = images.add_file(home, tmp_path / "img")
    assert stored.path.read_bytes() == data and stored.sha256 == hashlib.sha256(data).hexdigest()


def _generation(reg):
    reg.execute("INSERT INTO systems VALUES ('web', 'now')")
    reg.execute("INSERT INTO blobs VALUES ('x', 0, x'')")
    reg.execute("INSERT INTO generations (id, system, number, current_from, source, config_path, "
                "config_sha256, channels_sha256, pins, inputs_sha256, recorded) VALUES "
                "(1, 'web', 1, 'now', 'manual', 'web.scm', 'x', 'x', '[]', 'i', 'now')")


def test_gc_keeps_images_that_vms_use_and_the_history_of_the_others(reg, home, tmp_path):
    (tmp_path / "a").write_bytes(b"a" * 100)
    (tmp_path / "b").write_bytes(b"b" * 100)
    a, b = images.add_file(home, tmp_path / "a"), images.add_file(home, tmp_path / "b")
    images.register(reg, a)
    images.register(reg, b)
    _generation(reg)
    reg.execute("INSERT INTO vms (name, system, generation_id, host, image_sha256, overlay, state, "
                "created, updated) VALUES ('old', 'web', 1, 'local', ?, 'o', 'retired', 'now', 'now')",
                (a.sha256,))
    # a build of b (the VM that used it is gone): its record must survive the gc
    reg.execute("INSERT INTO builds (generation_id, inputs_key, builder, command, status, started, "
                "image_sha256) VALUES (1, 'k', 'local', '[]', 'succeeded', 'now', ?)", (b.sha256,))
    (home.images / ".incoming-999999999-dead").write_bytes(b"half")  # a copy whose process died
    assert [i.sha256 for i in images.gc(reg, home, dry_run=True)] == [b.sha256, ".incoming-999999999-dead"]
    assert b.path.exists()
    removed = images.gc(reg, home)
    assert [i.sha256 for i in removed][0] == b.sha256
    assert a.path.exists() and not b.path.exists()
    assert not (home.images / ".incoming-999999999-dead").exists()
    listing = {i.sha256: i for i in images.list_images(reg)}
    assert listing[a.sha256].present and not listing[b.sha256].present
    assert listing[b.sha256].generations == ("web@1",)
    assert images.gc(reg, home) == []  # nothing left to remove
