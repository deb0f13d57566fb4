"""vm:NAME facts over SSH, against a real sshd on 127.0.0.1 serving a Guix-layout tree.

The remote reader takes a root prefix, so the same tree that becomes an image can be read
"live" over SSH: both readings must give the same facts, which is what lets ``vmfleet diff
web@3 vm:web`` show only what changed on the running system.
"""

import json

import pytest

from tests.helpers.deploy_env import boot_home, unique_vm_name
from tests.helpers.diskimage import layout_web_a, make_disk, make_tree
from tests.helpers.sshd import Sshd
from vmfleet.build import builds as build
from vmfleet.cli import main
from vmfleet.deploy import lifecycle
from vmfleet.deploy.vm_access import inspect_vm
from vmfleet.deploy.vm_records import Options
from vmfleet.diff import compare, sides
from vmfleet.inspect.facts import inspect_image
from vmfleet.inspect.remote_facts import read_remote_facts
from vmfleet.tools import ssh

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
    d = compare.compare(sides.side_from_facts("web.qcow2", offline),
                     sides.side_from_facts("vm:web", live, kind="vm"), file_content=True)
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
    d = compare.compare(sides.side_from_facts("web.qcow2", offline),
                     sides.side_from_facts("vm:web", live, kind="vm"),
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


# --- a real VM: the stand-in's image booted under TCG ------------------------------------------


@pytest.fixture(scope="module")
def running_vm():
    """web@2 built by the stand-in and booted once (TCG) for the tests below."""
    with boot_home("vmfleet-test-diffvm-") as (home, reg, _old, new):
        built = build.ensure_image(reg, home, new)
        name = unique_vm_name()
        lifecycle.deploy(reg, home, new.label, name=name, options=Options(memory_mib=256,
                                                                        timeout=240))
        yield type("Running", (), {"home": home, "reg": reg, "gen": new, "name": name,
                                   "image": built.image_path})()


def test_a_running_vm_has_what_its_image_has(running_vm):
    r = running_vm
    live = inspect_vm(r.reg, r.home, r.name, files=True)
    offline = inspect_image(r.image, files=True)
    assert live.system == offline.system and live.packages == offline.packages
    assert live.configuration == offline.configuration
    assert {i.path for i in live.items} == {i.path for i in offline.items}
    d = compare.compare(sides.side_from_facts("image", offline),
                     sides.side_from_facts(f"vm:{r.name}", live, kind="vm"))
    assert d.channels == () and d.config.equal and d.packages.equal
    changed = {c.path for c in d.files}
    # Booting leaves its marks outside the store (host keys, logs, /run …), nothing inside.
    assert changed and not any(p.startswith("/gnu/store") for p in changed)


def test_cli_diff_of_a_generation_and_its_vm(running_vm, capsys):
    r = running_vm
    capsys.readouterr()
    code = main(["--home", str(r.home.root), "diff", r.gen.label, f"vm:{r.name}",
                 "--layers", "channels,config,packages"])
    out, err = capsys.readouterr()
    assert code == 0, out + err
    code = main(["--home", str(r.home.root), "inspect", f"vm:{r.name}", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert json.loads(out)["kind"] == "vm"
