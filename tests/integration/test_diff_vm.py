"""vm:NAME facts over SSH, against a real sshd on 127.0.0.1 serving a Guix-layout tree.

The remote reader takes a root prefix, so the same tree that becomes an image can be read
"live" over SSH: both readings must give the same facts, which is what lets ``vmfleet diff
web@3 vm:web`` show only what changed on the running system.
"""

import pytest

from tests.helpers.diskimage import layout_web_a, make_disk, make_tree
from tests.helpers.sshd import Sshd
from vmfleet import diff, ssh
from vmfleet.inspect import inspect_image, read_remote_facts

pytestmark = pytest.mark.integration


@pytest.fixture
def served(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    system, _sizes, _refs, _paths = make_tree(tree, layout_web_a())
    work = tmp_path / "work"
    work.mkdir()
    image = make_disk(tree, tmp_path / "web.qcow2", work=work)
    keys = tmp_path / "keys"
    key = ssh.ensure_keypair(keys)
    with Sshd(tmp_path / "sshd", [ssh.public_key(keys)]) as server:
        conn = ssh.connect("127.0.0.1", server.port, key=key, pinned=server.host_key)
        try:
            yield tree, image, conn, system
        finally:
            conn.close()


def test_remote_facts_match_the_image(served):
    tree, image, conn, system = served
    live = read_remote_facts(conn, source="vm:web", root=str(tree), files=True, texts=True)
    offline = inspect_image(image, files=True, texts=True)
    assert live.kind == "vm" and live.system == system == offline.system
    assert live.generation == 1
    assert live.provenance == offline.provenance
    assert live.configuration == offline.configuration
    assert live.packages == offline.packages
    assert live.items == offline.items and live.closure_size == offline.closure_size
    d = diff.compare(diff.side_from_facts("web.qcow2", offline),
                     diff.side_from_facts("vm:web", live, kind="vm"), file_content=True)
    assert d.channels == () and d.config.equal and d.packages.equal
    # mke2fs adds lost+found; everything else is the same, file by file.
    assert [(c.path, c.change) for c in d.files] == [("/lost+found", "removed")]


def test_changes_on_the_running_system_show_up(served):
    tree, image, conn, _system = served
    (tree / "etc/hostname").write_text("web-live\n")
    (tree / "etc/secret").chmod(0o644)
    (tree / "root/.ash_history").write_text("rm -rf /\n")
    live = read_remote_facts(conn, source="vm:web", root=str(tree), files=True, texts=True)
    offline = inspect_image(image, files=True, texts=True)
    d = diff.compare(diff.side_from_facts("web.qcow2", offline),
                     diff.side_from_facts("vm:web", live, kind="vm"),
                     layers=("files",), file_content=True)
    changes = {c.path: c for c in d.files}
    assert changes["/etc/hostname"].what == ("size", "content")
    assert "+web-live" in changes["/etc/hostname"].diff
    assert changes["/etc/secret"].what == ("mode",)
    assert changes["/root/.ash_history"].change == "added"


def test_a_system_without_store_database_over_ssh(served):
    tree, _image, conn, _system = served
    (tree / "var/guix/db/db.sqlite").unlink()
    live = read_remote_facts(conn, source="vm:web", root=str(tree))
    assert live.store_source == "listing" and live.closure_size is None
    assert any("no store database" in w for w in live.warnings)
    assert len(live.items) == 13
