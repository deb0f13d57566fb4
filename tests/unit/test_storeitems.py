import sqlite3

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.helpers.diskimage import write_store_db
from vmfleet.errors import ImageError, SchemeError
from vmfleet.guix.store import (
    closure,
    compare_versions,
    is_store_path,
    parse_manifest,
    parse_provenance,
    parse_store_path,
    read_store_db,
    split_name,
)

H = "z39g0vfbsdzyzi1x2n6my0qvfpc25ilw"


@pytest.mark.parametrize("name, package, version", [
    ("linux-libre-6.1.2", "linux-libre", "6.1.2"),
    ("foo-0.9.1b", "foo", "0.9.1b"),
    ("hello-2.12", "hello", "2.12"),
    ("gcc-11.3.0-lib", "gcc", "11.3.0-lib"),
    ("font-dejavu-2.37", "font-dejavu", "2.37"),
    ("e2fsprogs-1.46.5", "e2fsprogs", "1.46.5"),
    ("guile-3.0.9", "guile", "3.0.9"),
    ("system", "system", ""),
    ("profile", "profile", ""),
    ("shepherd-nginx.scm", "shepherd-nginx.scm", ""),
    ("python-3-x", "python", "3-x"),
])
def test_name_and_version_split_at_the_first_hyphen_before_a_digit(name, package, version):
    assert split_name(name) == (package, version)


def test_store_path_parts():
    p = parse_store_path(f"/gnu/store/{H}-linux-libre-6.1.2")
    assert (p.hash, p.name, p.package, p.version) == (H, "linux-libre-6.1.2", "linux-libre",
                                                       "6.1.2")
    assert parse_store_path(f"/gnu/store/{H}-hello-2.12/bin/hello").path == \
        f"/gnu/store/{H}-hello-2.12"
    assert parse_store_path(f"{H}-hello-2.12").name == "hello-2.12"


@pytest.mark.parametrize("path", [
    "/gnu/store/e39g0vfbsdzyzi1x2n6my0qvfpc25ilw-x",    # 'e' is not nix base32
    "/gnu/store/z39g0vfbsdzyzi1x2n6my0qvfpc25il-x",     # 31 characters
    f"/gnu/store/{H}",                                  # no name
    f"/nix/store/{H}-hello-2.12",
    f"/gnu/store/{H}-bad name",
])
def test_not_store_paths(path):
    assert not is_store_path(path)
    with pytest.raises(ValueError):
        parse_store_path(path)


@pytest.mark.parametrize("older, newer", [
    ("1.2", "1.10"), ("1.0", "1.0.1"), ("1.0pre1", "1.0"), ("1.99", "2.0"),
    ("8.44", "8.45"), ("1.1.1t", "3.0.8"), ("1.2.3", "1.2.3a"), ("2.35", "2.35-static"),
    ("", "1"), ("1.0a", "1.0b"), ("0.9", "0.10"),
])
def test_version_order(older, newer):
    assert compare_versions(older, newer) == -1
    assert compare_versions(newer, older) == 1


def test_equal_versions():
    assert compare_versions("1.2.3", "1.2.3") == 0
    assert compare_versions("1.2-3", "1.2.3") == 0  # '.' and '-' both separate


versions = st.text(alphabet="0123456789.-abpre", max_size=8)


@given(versions, versions)
def test_version_order_is_antisymmetric(a, b):
    assert compare_versions(a, b) == -compare_versions(b, a)


@given(versions, versions, versions)
def test_version_order_is_transitive(a, b, c):
    if compare_versions(a, b) <= 0 and compare_versions(b, c) <= 0:
        assert compare_versions(a, c) <= 0


MANIFEST_V3 = f"""
(manifest
  (version 3)
  (packages (("nginx" "1.23.3" "out" "/gnu/store/{H}-nginx-1.23.3"
              (propagated-inputs (("pcre" "8.45" "out" "/gnu/store/{H[::-1]}-pcre-8.45"
                                   (propagated-inputs ()) (search-paths ()))))
              (search-paths ()))
             ("glibc" "2.35" "static" "/gnu/store/{H}-glibc-2.35-static"
              (propagated-inputs ()) (search-paths (("LIBRARY_PATH" ("lib") ":" directory #f)))))))
"""

MANIFEST_V4 = f"""
(manifest
  (version 4)
  (packages (("hello" "2.12" "out" "/gnu/store/{H}-hello-2.12"
              (propagated-inputs (("zlib" "1.2.13" "out" "/gnu/store/{H[::-1]}-zlib-1.2.13"
                                   (propagated-inputs ()) (search-paths ())
                                   (properties ((tunable? . #t))))))
              (search-paths ()) (properties ()))
             ("curl" "8.0.1" "out" "/gnu/store/{H}-curl-8.0.1"
              (propagated-inputs ((repeated "zlib" "1.2.13" "/gnu/store/{H[::-1]}-zlib-1.2.13")))
              (search-paths ()))
             (repeated "zlib" "1.2.13" "/gnu/store/{H[::-1]}-zlib-1.2.13"))))
"""


def test_manifest_version_3_with_propagated_inputs():
    m = parse_manifest(MANIFEST_V3)
    assert m.version == 3
    assert [(e.name, e.version, e.output) for e in m.entries] == [
        ("nginx", "1.23.3", "out"), ("glibc", "2.35", "static")]
    assert m.entries[0].propagated[0].name == "pcre"
    assert {e.name for e in m.all_entries()} == {"nginx", "pcre", "glibc"}


def test_manifest_version_4_repeated_entries_refer_to_earlier_ones():
    m = parse_manifest(MANIFEST_V4)
    assert [e.name for e in m.entries] == ["hello", "curl", "zlib"]
    zlib = m.entries[0].propagated[0]
    assert m.entries[1].propagated[0] is zlib
    assert m.entries[2] is zlib
    assert len(m.all_entries()) == 3


@pytest.mark.parametrize("text", ["(profile (version 4))", "(manifest (version 9) (packages ()))",
                                  "(manifest (version 4) (packages (1 2)))", "(manifest"])
def test_bad_manifests(text):
    with pytest.raises(SchemeError):
        parse_manifest(text, "m")


PROVENANCE = """(provenance
 (version 0)
 (channels
  (channel (name guix) (url "https://git.savannah.gnu.org/git/guix.git") (branch "master")
           (commit "60c97924e9519361494aaf0686e28eb831a42315"))
  (channel (name nonguix) (url "https://gitlab.com/nonguix/nonguix")
           (commit "1234567890123456789012345678901234567890")))
 (configuration-file "/gnu/store/z39g0vfbsdzyzi1x2n6my0qvfpc25ilw-configuration.scm"))
"""


def test_provenance():
    p = parse_provenance(PROVENANCE)
    assert p.version == 0
    assert [(c.name, c.branch, c.commit[:7]) for c in p.channels] == [
        ("guix", "master", "60c9792"), ("nonguix", None, "1234567")]
    assert p.configuration_file.endswith("-configuration.scm")


def test_provenance_that_is_not():
    with pytest.raises(SchemeError, match="not a provenance"):
        parse_provenance("(manifest)", "x")


def _paths(*names):
    return {n: f"/gnu/store/{H[:-len(str(i))]}{i}-{n}" for i, n in enumerate(names)}


def test_store_database_gives_sizes_references_and_closure(tmp_path):
    p = _paths("hello-2.12", "glibc-2.35", "bash-5.1", "orphan-1.0")
    sizes = {p["hello-2.12"]: 100, p["glibc-2.35"]: 4000, p["bash-5.1"]: 300, p["orphan-1.0"]: 7}
    refs = {p["hello-2.12"]: (p["glibc-2.35"],), p["glibc-2.35"]: (p["glibc-2.35"],),
            p["bash-5.1"]: (p["glibc-2.35"],), p["orphan-1.0"]: ()}
    db = tmp_path / "db.sqlite"
    write_store_db(db, sizes, refs)
    items = read_store_db(db)
    assert {k: v.nar_size for k, v in items.items()} == sizes
    assert items[p["hello-2.12"]].references == (p["glibc-2.35"],)
    assert items[p["hello-2.12"]].package == "hello"
    assert closure(items, [p["hello-2.12"]]) == {p["hello-2.12"], p["glibc-2.35"]}


def test_a_database_that_is_not_a_store_database(tmp_path):
    other = tmp_path / "other.sqlite"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ImageError, match="not a Guix store database"):
        read_store_db(other)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(ImageError, match="store database"):
        read_store_db(junk)
