"""diff --why: Guix's commit conventions, channel histories from a clone, grafts, config lines,
the dependencies behind a rebuild; with a real guix clone (VMFLEET_GUIX_SOURCE) the openssh
and curl rows of issue 18."""

import hashlib
import os
import time
from pathlib import Path

import pytest

from tests.helpers.channel_repo import guix_like, own_conventions
from tests.helpers.pins import C_2023_03, C_2024_05, V1_4_0
from vmfleet.diff import compare, human, json_out, why
from vmfleet.diff.sides import Side
from vmfleet.guix import commits, os_config
from vmfleet.guix.store import NIX_BASE32, ChannelPin, StoreItem
from vmfleet.inspect.facts import ImageFacts, Package

URL = "https://git.savannah.gnu.org/git/guix.git"


@pytest.fixture(autouse=True)
def no_guix_checkouts(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


# --- Guix's conventions ----------------------------------------------------------------------

@pytest.mark.parametrize("subject, found", [
    ("gnu: openssh: Update to 9.4p1.", [("openssh", "update", "9.4p1")]),
    ("gnu: curl/fixed: Update to 8.4.0 [security fixes].", [("curl/fixed", "update", "8.4.0")]),
    ("gnu: Add python-foo.", [("python-foo", "add", None)]),
    ("gnu: Remove guile-old.", [("guile-old", "remove", None)]),
    ("gnu: openssh: Use G-expressions.", [("openssh", "other", None)]),
    ("gnu: rust-a, rust-b: Update to 1.2.3.", [("rust-a", "update", "1.2.3"),
                                               ("rust-b", "update", "1.2.3")]),
    ("gnu: linux-libre: Update to 6.5.7.", [("linux-libre", "update", "6.5.7")]),
    ("services: ssh: Add 'log-file' field.", []),
    ("doc: Fix typo.", []),
    ("gnu: Add 'foo' package with spaces.", []),
])
def test_commit_subjects_follow_guix_conventions(subject, found):
    got = [(m.variable, m.kind, m.version) for m in commits.mentions(subject)]
    assert got == found


def test_a_replacement_is_its_package_and_its_version_may_be_padded():
    (m,) = commits.mentions("gnu: curl/fixed: Update to 8.4.0 [security fixes].")
    assert (m.package, m.variant) == ("curl", "fixed")
    assert commits.version_matches("8.4.0", "8.4.0a")          # padded for grafting
    assert commits.version_matches("8.4.0", "8.4.0")
    assert not commits.version_matches("8.4.0", "8.4.01")
    assert not commits.version_matches("8.4", "8.4.0")


def test_guix_checkout_is_named_as_guix_git_names_it(tmp_path):
    # guix/git.scm url-cache-directory: base32(sha256(url)); this is the directory a user's
    # `guix repl` printed for %default-guix-channel's URL (a public report).
    d = why.guix_checkout(URL, tmp_path)
    assert d == tmp_path / "pjmkglp4t7znuugeurpurzikxq3tnlaywmisyr27shj7apsnalwq"
    assert why.guix_checkout(URL).parent == tmp_path / "cache" / "guix" / "checkouts"


# --- sides built by hand ---------------------------------------------------------------------

def _h(key: str) -> str:
    digest = hashlib.sha256(key.encode()).digest()
    return "".join(NIX_BASE32[b % 32] for b in digest[:32])


class Store:
    """Store items with references, named like Guix's (hash of name and references)."""

    def __init__(self):
        self.items: dict[str, StoreItem] = {}

    def add(self, name: str, *refs: str, salt: str = "") -> str:
        path = f"/gnu/store/{_h(name + salt + '|'.join(refs))}-{name}"
        self.items[path] = StoreItem(path, 1000, tuple(sorted(refs)))
        return path


def side(label, store: Store, manifest, commit, config=None, channels=None) -> Side:
    facts = ImageFacts(source=label, kind="image", system=None, generation=None,
                       provenance=None, channels_scm=None, configuration=config,
                       packages=tuple(Package(n, v, "out", p) for n, v, p in manifest),
                       items=tuple(sorted(store.items.values(), key=lambda i: i.path)),
                       closure_size=None, store_source="database")
    summary = os_config.summarize_os(config, "web.scm").to_dict() if config else None
    pins = channels or (ChannelPin("guix", URL, "master", commit),)
    return Side(label=label, kind="image", source=label, facts=facts, channels=pins,
                config_text=config, config_name="web.scm", summary=summary)


CONFIG = """(use-modules (gnu))
(operating-system
  (host-name "web")
  (timezone "Europe/Berlin")
  (bootloader (bootloader-configuration (bootloader grub-bootloader)))
  (file-systems %base-file-systems)
  (packages (append (list (specification->package "nginx")
                          {extra})
                    %base-packages)))
"""


def web_pair(repo_pins):
    pin_a, pin_b = repo_pins
    sa, sb = Store(), Store()
    # A: openssh 9.3p1, dropbear on glibc and zlib 1.2.13
    z1 = sa.add("zlib-1.2.13")
    g1 = sa.add("glibc-2.35")
    d1 = sa.add("dropbear-2022.83", g1, z1)
    o1 = sa.add("openssh-9.3p1", g1, z1)
    n1 = sa.add("nginx-1.25.0", g1)
    # B: zlib upgraded, glibc rebuilt (a patch), dropbear rebuilt because of both, curl added
    # and grafted (the manifest says 7.85.0, the item is the replacement's 8.4.0a)
    z2 = sb.add("zlib-1.3")
    g2 = sb.add("glibc-2.35", salt="patched")
    d2 = sb.add("dropbear-2022.83", g2, z2)
    o2 = sb.add("openssh-9.4p1", g2, z2)
    n2 = sb.add("nginx-1.25.0", g2)
    c2 = sb.add("curl-8.4.0a", g2, z2)
    a = side("web@2023-06", sa, [("nginx", "1.25.0", n1), ("openssh", "9.3p1", o1),
                                 ("dropbear", "2022.83", d1)], pin_a,
             CONFIG.format(extra="openssh"))
    b = side("web@2023-10", sb, [("nginx", "1.25.0", n2), ("openssh", "9.4p1", o2),
                                 ("dropbear", "2022.83", d2), ("curl", "7.85.0", c2)], pin_b,
             CONFIG.format(extra="openssh\n                          curl"))
    return a, b


def test_rows_are_explained_by_the_commits_of_the_range(tmp_path):
    ch = guix_like(tmp_path / "guix")
    a, b = web_pair((ch.pin_a, ch.pin_b))
    d = compare.compare(a, b, layers=("channels", "config", "packages"), why=True,
                        channel_repos={"guix": ch.repo})
    kinds = {c.name: c.change for c in d.packages.changes}
    assert kinds == {"curl": "added", "dropbear": "rebuilt", "glibc": "rebuilt",
                     "nginx": "rebuilt", "openssh": "upgraded", "zlib": "upgraded"}
    w = d.why
    openssh = w.reason("openssh")
    assert [c.subject for c in openssh.commits] == ["gnu: openssh: Update to 9.3p2.",
                                                    "gnu: openssh: Update to 9.4p1."]
    assert [c.subject for c in openssh.other_commits] == ["gnu: openssh: Use G-expressions."]
    assert all(c.commit == ch.commits[c.subject] for c in openssh.commits)
    # the update after pin B is not in the range
    assert "gnu: openssh: Update to 9.5p1." not in {c.subject for c in openssh.other_commits}

    curl = w.reason("curl")
    assert [(c.file, c.line, c.sign) for c in curl.config] == [("web.scm", 9, "+")]
    (graft,) = curl.grafts
    assert (graft.side, graft.declared, graft.runs) == ("b", "7.85.0", "8.4.0a")
    assert [c.subject for c in graft.commits] == [
        "gnu: curl/fixed: Update to 8.4.0 [security fixes]."]

    dropbear = w.reason("dropbear")
    assert dropbear.commits == ()     # no commit names it: its inputs changed
    assert {c.name for c in dropbear.inputs} == {"glibc", "zlib"}
    assert dropbear.roots == ()       # both inputs are root causes themselves
    glibc = w.reason("glibc")
    assert [c.subject for c in glibc.commits] == ["gnu: glibc: Add patch for CVE-2023-4911."]
    assert glibc.inputs == ()

    text = human.render(d)
    assert 'guix ' + ch.commits["gnu: openssh: Update to 9.3p2."][:11] + \
        ' "gnu: openssh: Update to 9.3p2." (2023-07-16)' in text
    assert "config web.scm:9 (+ curl); runs the graft curl 8.4.0a:" in text
    assert "inputs changed: glibc 2.35 (rebuilt), zlib 1.2.13 → 1.3" in text
    data = json_out.to_json(d)
    row = next(c for c in data["layers"]["packages"]["changes"] if c["name"] == "curl")
    assert row["grafted"] and row["runs_b"] == ["8.4.0a"]
    assert row["why"]["grafts"][0]["commits"][0]["subject"].startswith("gnu: curl/fixed:")
    assert data["why"]["channels"][0]["commits"] == 7


def test_roots_follow_references_down_to_what_changed_itself(tmp_path):
    ch = guix_like(tmp_path / "guix")
    sa, sb = Store(), Store()
    z1 = sa.add("zlib-1.2.13")
    lib1 = sa.add("libssh-0.10.5", z1)
    app1 = sa.add("app-1.0", lib1)
    z2 = sb.add("zlib-1.3")
    lib2 = sb.add("libssh-0.10.5", z2)
    app2 = sb.add("app-1.0", lib2)
    a = side("a", sa, [("app", "1.0", app1)], ch.pin_a)
    b = side("b", sb, [("app", "1.0", app2)], ch.pin_b)
    d = compare.compare(a, b, layers=("packages",), why=True, channel_repos={"guix": ch.repo})
    app = d.why.reason("app")
    assert [c.text() for c in app.inputs] == ["libssh 0.10.5 (rebuilt)"]
    assert [c.text() for c in app.roots] == ["zlib 1.2.13 → 1.3"]
    assert "root causes: zlib 1.2.13 → 1.3" in human.render(d)
    # a rebuild with no changed reference and no commit: said plainly
    assert any("no runtime reference changed" in n for n in d.why.reason("zlib").notes) is False


def test_without_a_clone_the_row_says_how_to_get_the_answer(tmp_path):
    ch = guix_like(tmp_path / "guix")
    a, b = web_pair((ch.pin_a, ch.pin_b))
    d = compare.compare(a, b, layers=("packages",), why=True, discover_repos=False)
    note = d.why.reason("openssh").notes[0]
    assert "--channel-repo guix=DIR" in note and f"git clone {URL} DIR" in note
    assert "guix time-machine" in note
    assert note in human.render(d)


def test_guix_time_machines_checkout_is_found_by_its_name(tmp_path):
    cache = tmp_path / "cache" / "guix" / "checkouts"
    ch = guix_like(why.guix_checkout(URL, cache))
    a, b = web_pair((ch.pin_a, ch.pin_b))
    d = compare.compare(a, b, layers=("packages",), why=True)
    assert d.why.channels[0].repo == str(why.guix_checkout(URL, cache))
    assert len(d.why.reason("openssh").commits) == 2


def test_a_clone_without_the_pins_is_not_fetched_into(tmp_path):
    ch = guix_like(tmp_path / "guix")
    a, b = web_pair((ch.pin_a, C_2024_05))
    d = compare.compare(a, b, layers=("packages",), why=True, channel_repos={"guix": ch.repo})
    note = d.why.reason("openssh").notes[0]
    assert f"lacks commit {C_2024_05[:11]}" in note and "vmfleet does not fetch" in note


def test_other_channels_are_read_by_the_files_commits_touched(tmp_path):
    ch = own_conventions(tmp_path / "acme")
    acme = "https://example.invalid/acme.git"
    sa, sb = Store(), Store()
    t1, t2 = sa.add("acme-tool-1.0"), sb.add("acme-tool-1.1")
    o1, o2 = sa.add("acme-other-2.0"), sb.add("acme-other-2.1")
    a = side("a", sa, [("acme-tool", "1.0", t1), ("acme-other", "2.0", o1)], None,
             channels=(ChannelPin("acme", acme, None, ch.pin_a),))
    b = side("b", sb, [("acme-tool", "1.1", t2), ("acme-other", "2.1", o2)], None,
             channels=(ChannelPin("acme", acme, None, ch.pin_b),))
    d = compare.compare(a, b, layers=("packages",), why=True, channel_repos={"acme": ch.repo})
    tool = d.why.reason("acme-tool")
    assert [(c.subject, c.kind, c.file) for c in tool.other_commits + tool.commits] == [
        ("bump the tool", "file", "acme/packages/tools.scm")]
    assert [c.subject for c in d.why.reason("acme-other").other_commits] == [
        "other: new release"]


def test_a_graft_changing_under_the_same_manifest_entry_is_never_unchanged(tmp_path):
    sa, sb = Store(), Store()
    c1 = sa.add("curl-7.85.0")
    c2 = sb.add("curl-8.4.0a")
    a = side("a", sa, [("curl", "7.85.0", c1)], V1_4_0)
    b = side("b", sb, [("curl", "7.85.0", c2)], C_2023_03)
    d = compare.compare(a, b, layers=("packages",))
    (row,) = d.packages.changes
    assert (row.change, row.versions_a, row.versions_b) == ("upgraded", ("7.85.0",), ("7.85.0",))
    assert row.grafted and row.runs_b == ("8.4.0a",)
    assert "curl*  7.85.0 → 7.85.0 (runs 7.85.0 → 8.4.0a)" in human.render(d)


# --- the real guix history -------------------------------------------------------------------

GUIX_SOURCE = os.environ.get("VMFLEET_GUIX_SOURCE")
PIN_2023_06 = "76e39909e886bb51cf9b2fa03a1523545faca880"
PIN_2023_10 = "60c97924e9519361494aaf0686e28eb831a42315"


@pytest.mark.skipif(not GUIX_SOURCE, reason="needs a guix clone: VMFLEET_GUIX_SOURCE=DIR")
def test_the_openssh_and_curl_rows_from_the_real_guix_history():
    a, b = web_pair((PIN_2023_06, PIN_2023_10))
    started = time.monotonic()
    d = compare.compare(a, b, layers=("config", "packages"), why=True,
                        channel_repos={"guix": Path(GUIX_SOURCE)})
    seconds = time.monotonic() - started
    text = human.render(d)
    print(text, f"attribution: {seconds:.2f} s over {d.why.channels[0].commits} commits")
    assert d.why.channels[0].commits == 9928
    for line in ('guix 43726107316 "gnu: openssh: Update to 9.3p2." (2023-07-16)',
                 'guix 72e2bbebf5f "gnu: openssh: Update to 9.4p1." (2023-08-06)',
                 "config web.scm:9 (+ curl); runs the graft curl 8.4.0a:",
                 'guix d6d706a58b8 "gnu: curl/fixed: Update to 8.4.0 [security fixes]." '
                 '(2023-10-11)'):
        assert line in text
    assert seconds < 2.0 * (3 if os.environ.get("PYTEST_XDIST_WORKER") else 1)


def test_services_and_packages_point_to_their_line_also_in_a_recorded_module(tmp_path):
    ch = guix_like(tmp_path / "guix")
    a, b = web_pair((ch.pin_a, ch.pin_b))
    module = ("(define-module (me base))\n(define-public %extra\n"
              "  (list (service nftables-service-type)))\n")
    text_b = b.config_text.replace("%base-packages)))", "%base-packages))\n"
                                   "  (services (cons (service ntp-service-type) %extra)))")
    import dataclasses

    b = dataclasses.replace(b, config_text=text_b, input_texts={"me/base.scm": module},
                            summary=os_config.summarize_os(text_b, "web.scm").to_dict())
    d = compare.compare(a, b, layers=("config", "packages"), why=True,
                        channel_repos={"guix": ch.repo})
    lines = {x.type: (x.line.file, x.line.line) for x in d.why.services if x.line}
    assert lines["ntp-service-type"] == ("web.scm", 11)
    assert why.find_lines(b, "nftables-service-type") == [("me/base.scm", 3)]
    assert "service ntp-service-type  (web.scm:11)" in human.render(d)


def test_cli_diff_why_content_all_on_two_images(tmp_path, capsys):
    """The options reach the library: two small Guix-layout images (no clone of their guix
    channel here, so the rows say how to get the commits)."""
    import json
    import shutil

    from tests.helpers.diskimage import image
    from vmfleet.cli import main

    shutil.copy(image("web-a").path, tmp_path / "a.qcow2")
    shutil.copy(image("web-b").path, tmp_path / "b.qcow2")
    capsys.readouterr()
    code = main(["--home", str(tmp_path / "home"), "diff", str(tmp_path / "a.qcow2"),
                 str(tmp_path / "b.qcow2"), "--why", "--content", "--all", "--json",
                 "--layers", "channels,packages"])
    out = capsys.readouterr().out
    assert code == 1
    data = json.loads(out)
    rows = {c["name"]: c for c in data["layers"]["packages"]["changes"]}
    assert "--channel-repo guix=DIR" in rows["nginx"]["why"]["notes"][0]
    assert data["content"]["items"] and data["layers"]["packages"]["unchanged_items"]
    zlib = next(i for i in data["content"]["items"] if i["name"] == "zlib-1.2.13")
    assert zlib["verdict"] == "identical"     # rebuilt (another hash), the same bytes
