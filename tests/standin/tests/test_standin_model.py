"""The guix stand-in's model of Guix: store file names, NARs, the channel history, closures."""

from __future__ import annotations

import dataclasses
import hashlib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tests" / "standin"))

from guix_standin import history, nix, tree  # noqa: E402
from guix_standin.channels import default_channels  # noqa: E402
from guix_standin.closure import Builder  # noqa: E402
from guix_standin.osconfig import load  # noqa: E402
from guix_standin.settings import Knobs, parse_size  # noqa: E402

# Real commits of the guix channel (docs/guix-facts.md, "Pins").
C_2023_06 = "76e39909e886bb51cf9b2fa03a1523545faca880"
C_2023_10 = "60c97924e9519361494aaf0686e28eb831a42315"
C_2024_05 = "dc4c48f10281007a0ab3541b8a64198c60c6d5b0"

CONFIG = """(use-modules (gnu))
(use-service-modules networking ssh web)
(use-package-modules web)
(operating-system
  (host-name "web")
  (timezone "Etc/UTC")
  (bootloader (bootloader-configuration (bootloader grub-bootloader)))
  (file-systems %base-file-systems)
  (packages (cons nginx %base-packages))
  (services (cons* (service nginx-service-type) (service openssh-service-type)
                   %base-services)))
"""


def test_nix_base32_matches_nix():
    empty = hashlib.sha256(b"").digest()
    assert nix.nix_base32(empty) == "0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"
    h = nix.store_hash("anything")
    assert len(h) == 32 and set(h) <= set(nix.ALPHABET)
    assert not set("eotu") & set(nix.ALPHABET)


def test_nar_of_a_small_file():
    size, h = tree.nar(tree.File(data=b"hello"))
    assert size == 120          # 13-byte magic, ( type regular contents <5 bytes> ): 8-aligned
    assert h.startswith("sha256:") and len(h) == 7 + 64


def test_nar_depends_on_names_modes_and_link_targets():
    a = tree.build({"bin/x": tree.File(data=b"#!/bin/sh\n", executable=True)})
    b = tree.build({"bin/x": tree.File(data=b"#!/bin/sh\n")})
    c = tree.build({"bin/y": tree.Link("x")})
    assert len({tree.nar(n)[1] for n in (a, b, c)}) == 3


def test_history_is_guix_history_real_commits_and_versions():
    """The catalog is docs/guix-facts.md's pins: real commits, dates, versions read in Guix."""
    by_label = {r.label: r for r in history.REVISIONS}
    for label, commit, date in (("v1.0.0", "6298c3ffd9654d3231a6f25390b056483e8f407c",
                                 "2019-05-01"),
                                ("2023-10", C_2023_10, "2023-11-01"),
                                ("2024-05", C_2024_05, "2024-05-31"),
                                ("v1.5.0", "230aa373f315f247852ee07dff34146e9b480aec",
                                 "2026-01-21")):
        assert by_label[label].commit == commit
        assert by_label[label].date.strftime("%Y-%m-%d") == date
    assert history.packages(by_label["2023-06"])["openssh"].version == "9.3p1"
    assert history.packages(by_label["v1.0.0"])["bash"].version == "4.4"
    assert history.packages(by_label["2024-11"])["glibc"].version == "2.39"
    assert history.packages(by_label["2025-12"])["nginx"].version == "1.28.0"


def test_features_follow_the_commits_that_introduced_them():
    by_label = {r.label: r for r in history.REVISIONS}
    assert not by_label["v1.0.0"].has("save-provenance")
    assert by_label["2019-12"].has("save-provenance") and not by_label["v1.2.0"].image_action
    assert by_label["v1.3.0"].image_action and "efi-raw" in by_label["v1.3.0"].image_types
    assert not by_label["2023-10"].has("efi-needs-gpt") and by_label["2024-05"].has("efi-needs-gpt")
    assert not by_label["2024-11"].has("zstd-qcow2") and by_label["2025-06"].has("zstd-qcow2")
    assert by_label["2024-11"].default_url == "https://git.savannah.gnu.org/git/guix.git"
    assert by_label["2025-06"].default_url == "https://git.guix.gnu.org/guix.git"
    assert "qcow2-gpt" not in by_label["2025-06"].image_types
    assert "qcow2-gpt" in by_label["2025-12"].image_types
    assert by_label["v0.16.0"].reachable and not by_label["v0.15.0"].reachable


def test_efi_bootloader_refusal_follows_gnu_system_image_scm():
    """gnu/system/image.scm, system-disk-image: 6bd17a0806a, 21989dd57da, e5078ff3210,
    5df3514ab0f (a list of bound variables: nothing matched) and e12ba8c865f."""
    def rev_at(date):
        return dataclasses.replace(history.REVISIONS[-1], date=history._d(date))

    cases = [  # date, bootloader, gpt, refused
        ("2023-09-19", "grub-bootloader", True, False),
        ("2023-10-01", "grub-bootloader", True, True),
        ("2023-10-01", "grub-efi-removable-bootloader", True, True),
        ("2023-10-01", "grub-efi-bootloader", True, False),
        ("2024-02-01", "grub-efi-removable-bootloader", True, False),
        ("2024-02-01", "grub-efi-bootloader", False, False),
        ("2024-05-22", "grub-efi-bootloader", False, True),
        ("2024-05-22", "grub-efi32-bootloader", False, True),
        ("2024-05-22", "grub-efi-removable-bootloader", False, True),
        ("2024-05-22", "grub-efi-netboot-bootloader", False, False),
        ("2024-05-22", "grub-bootloader", True, False),
        ("2025-11-27", "grub-efi-bootloader", False, False),
        ("2025-12-02", "grub-efi-netboot-bootloader", False, True),
        ("2025-12-02", "grub-efi32-removable-bootloader", False, True),
        ("2025-12-02", "grub-efi-bootloader", True, False),
    ]
    for date, bootloader, gpt, refused in cases:
        assert rev_at(date).refuses_bootloader(bootloader, gpt) is refused, (date, bootloader)


def test_efi_raw_table_and_oldest_commit_by_revision():
    by_label = {r.label: r for r in history.REVISIONS}
    assert not by_label["2023-06"].gpt("image", "efi-raw")          # 209204e23b3: 2023-07-07
    assert by_label["2023-10"].gpt("image", "efi-raw")
    assert by_label["2023-10"].gpt("image", "qcow2-gpt") and not by_label["v1.5.0"].gpt(
        "image", "qcow2")
    assert by_label["2023-06"].oldest_commit is None                # 79ec651a286: 2023-08-16
    assert by_label["2023-10"].oldest_commit.startswith("6298c3ffd965")
    assert by_label["2024-05"].oldest_commit.startswith("4a0b87f0ec5b")   # a26bce55e60


def test_history_spans_2023_to_2025_with_versions():
    reachable = [r for r in history.REVISIONS if r.reachable and r.date.year >= 2023]
    assert len(reachable) >= 4 and {r.date.year for r in reachable} >= {2023, 2024, 2025}
    assert any(not r.reachable for r in history.REVISIONS)
    assert any(r.reachable and not r.image_action for r in history.REVISIONS)
    for r in reachable:
        pkgs = history.packages(r)
        for name in ("nginx", "postgresql", "openssh", "linux-libre", "glibc", "bash",
                     "coreutils", "guile", "shepherd"):
            assert name in pkgs
    assert len({history.packages(r)["nginx"].version for r in reachable}) >= 4


def test_specification_picks_the_newest_matching_version():
    rev = history.by_commit()[C_2024_05]
    assert history.find_specification(rev, "postgresql").version == "16.2"
    assert history.find_specification(rev, "postgresql@15").version == "15.6"
    assert history.find_specification(rev, "nope") is None


@pytest.mark.parametrize("text, size", [
    ("4G", 4 << 30), ("4GiB", 4 << 30), ("5GB", 5 * 10**9), ("1024", 1024),
    ("512M", 512 << 20), ("3kB", 3000), ("4k", 4096), ("4K", 4096), ("1.5G", 3 << 29),
    # guix/ui.scm's size->number matches units exactly: no "KB", "Ki", "mb", no spaces
    ("4KB", None), ("4Ki", None), ("5mb", None), ("4 G", None), ("G", None)])
def test_image_sizes_as_guix_reads_them(text, size):
    assert parse_size(text) == size


def _closure(tmp_path, commit, **knobs):
    cfg_file = tmp_path / "config.scm"
    cfg_file.write_text(CONFIG)
    rev = history.by_commit()[commit]
    config = load(str(cfg_file), rev)
    k = Knobs(nondeterministic=frozenset(), slow=0, drift=frozenset(knobs.get("drift", ())),
              vanish=frozenset(), big_items=0, big_bytes=0)
    b = Builder(rev, config, default_channels(rev), save_provenance=True, knobs=k,
                host=lambda: None, kernel=lambda: None)
    c = b.build()
    return {i.name: i.path for i in c.items.values()}, c


def test_neighbouring_pins_differ_only_where_packages_changed(tmp_path):
    old, c_old = _closure(tmp_path, C_2023_06)
    new, c_new = _closure(tmp_path, C_2023_10)
    assert "openssh-9.3p1" in old and "openssh-9.4p1" in new      # gnu/packages/ssh.scm at those pins
    assert old["glibc-2.35"] == new["glibc-2.35"]
    assert old["nginx-1.23.3"] == new["nginx-1.23.3"]
    assert c_old.system.path != c_new.system.path


def test_upgrading_a_dependency_renames_its_dependents(tmp_path):
    plain, _ = _closure(tmp_path, C_2023_10)
    drifted, _ = _closure(tmp_path, C_2023_10, drift=["pcre2"])
    assert plain["pcre2-10.40"] != drifted["pcre2-10.40"]
    assert plain["nginx-1.23.3"] != drifted["nginx-1.23.3"]       # nginx links pcre2
    assert plain["openssh-9.4p1"] == drifted["openssh-9.4p1"]     # openssh does not


def test_service_packages_join_the_closure(tmp_path):
    names, _ = _closure(tmp_path, C_2024_05)
    assert "openssh-9.7p1" in names and "shepherd-nginx.scm" in names
    assert any(n.startswith("guix-1.4.0") for n in names)


def _inittab(tmp_path, text):
    """The inittab and the SSH server's configuration: sshd_config for openssh-service-type
    (one text per daemon), the dropbear script for dropbear-service-type."""
    cfg_file = tmp_path / "config.scm"
    cfg_file.write_text(text)
    rev = history.by_commit()[C_2024_05]
    k = Knobs(nondeterministic=frozenset(), slow=0, drift=frozenset(), vanish=frozenset(),
              big_items=0, big_bytes=0)
    c = Builder(rev, load(str(cfg_file), rev), default_channels(rev), save_provenance=False,
                knobs=k, host=lambda: None, kernel=lambda: None).build()
    etc = next(i for i in c.items.values() if i.name == "etc")
    inittab = etc.node.entries["inittab"].data.decode()
    daemons = [i.node.data.decode() for i in c.items.values() if i.name == "sshd_config"] or \
        [i.node.data.decode() for i in c.items.values() if i.name == "ssh-daemon"]
    return inittab, daemons


def test_guest_runs_only_the_services_the_config_has(tmp_path):
    inittab, daemons = _inittab(tmp_path, CONFIG)
    assert "udhcpc" not in inittab and "no networking service" in inittab   # no dhcp-client
    # gnu/services/ssh.scm: permit-root-login defaults to #f
    assert len(daemons) == 1 and "Port 22\n" in daemons[0]
    assert "PermitRootLogin no\n" in daemons[0]
    assert "AuthorizedKeysFile  .ssh/authorized_keys .ssh/authorized_keys2 " \
           "/etc/ssh/authorized_keys.d/%u" in daemons[0]
    text = CONFIG.replace(
        "(service openssh-service-type)",
        "(service dhcp-client-service-type) (service openssh-service-type "
        "(openssh-configuration (port-number 2222) (permit-root-login #f)))")
    inittab, daemons = _inittab(tmp_path, text)
    assert "udhcpc -f -i eth0" in inittab
    assert "Port 2222\n" in daemons[0] and "PermitRootLogin no\n" in daemons[0]
    for allowed, written in (("#t", "yes"), ("'prohibit-password", "prohibit-password")):
        _, daemons = _inittab(tmp_path, text.replace("(permit-root-login #f)",
                                                     f"(permit-root-login {allowed})"))
        assert f"PermitRootLogin {written}\n" in daemons[0]
    inittab, daemons = _inittab(tmp_path, CONFIG.replace("(service openssh-service-type)", ""))
    assert daemons == [] and "ssh-daemon" not in inittab


def test_digit_led_names_and_outputs_reach_the_closure(tmp_path):
    """Store names the product must split with the manifest: guile-8sync-0.4.2,
    emacs-2048-game-…, go-github-com-99designs-keyring-…, and gcc's "lib" output."""
    text = CONFIG.replace(
        "(packages (cons nginx %base-packages))",
        '(packages (append (list (specification->package "guile-8sync")'
        ' (specification->package "emacs-2048-game")'
        ' (specification->package "go-github-com-99designs-keyring")'
        ' (specification->package+output "gcc:lib")) %base-packages))')
    cfg_file = tmp_path / "config.scm"
    cfg_file.write_text(text)
    rev = history.by_commit()[C_2024_05]
    k = Knobs(nondeterministic=frozenset(), slow=0, drift=frozenset(), vanish=frozenset(),
              big_items=0, big_bytes=0)
    c = Builder(rev, load(str(cfg_file), rev), default_channels(rev), save_provenance=False,
                knobs=k, host=lambda: None, kernel=lambda: None).build()
    names = {i.name for i in c.items.values()}
    assert {"guile-8sync-0.4.2", "emacs-2048-game-20151026.1233",
            "go-github-com-99designs-keyring-1.2.2", "gcc-11.3.0-lib"} <= names
    manifest = [(spec.name, spec.version, output) for spec, output, _ in c.packages]
    assert ("gcc", "11.3.0", "lib") in manifest


def test_dropbear_root_login_follows_its_own_field(tmp_path):
    """dropbear-configuration's root-login? (default #f), gnu/services/ssh.scm."""
    base = CONFIG.replace("(service openssh-service-type)", "(service dropbear-service-type)")
    _, daemons = _inittab(tmp_path, base)
    assert " -w" in daemons[0]
    _, daemons = _inittab(tmp_path, base.replace(
        "(service dropbear-service-type)",
        "(service dropbear-service-type (dropbear-configuration (root-login? #t)))"))
    assert " -w" not in daemons[0]


def test_a_gexp_body_is_not_evaluated_but_its_ungexps_are(tmp_path):
    """guix/gexp.scm@8e2f32cee98:1414: ``#~(job …)`` is build-side code (no ``job`` binding is
    needed to load the config); a ``local-file`` under ``#$`` is evaluated and interned."""
    (tmp_path / "backup.sh").write_text("#!/bin/sh\n")
    text = CONFIG.replace("(use-modules (gnu))", '(use-modules (gnu))\n(define %job #~(job "30 2 * * *" '
                          '#$(local-file "backup.sh" "backup.sh" #:recursive? #t)))')
    (tmp_path / "config.scm").write_text(text)
    config = load(str(tmp_path / "config.scm"), history.by_commit()[C_2024_05])
    assert [f.written for f in config.local_files] == ["backup.sh"]


def test_a_prefixed_guix_module_binds_only_prefixed_names(tmp_path):
    """Guile's #:prefix: ``((gnu packages web) #:prefix web:)`` binds ``web:nginx``, not
    ``nginx`` (corpus os/prefix-imports.scm evaluates with Guix v1.4.0)."""
    from guix_standin.errors import GuixError
    head = ("(use-modules (gnu) ((gnu packages web) #:prefix web:) ((gnu services web) #:prefix w:))\n"
            "(use-service-modules networking ssh)\n")
    body = CONFIG[CONFIG.index("(operating-system"):]
    (tmp_path / "config.scm").write_text(head + body.replace("(cons nginx", "(cons web:nginx")
                                         .replace("nginx-service-type", "w:nginx-service-type"))
    config = load(str(tmp_path / "config.scm"), history.by_commit()[C_2024_05])
    assert "nginx" in [p.spec.variable for p in config.packages]
    (tmp_path / "config.scm").write_text(head + body)
    with pytest.raises(GuixError, match="nginx: unbound variable"):
        load(str(tmp_path / "config.scm"), history.by_commit()[C_2024_05])


# --- Meet real Guix, round 2 ------------------------------------------------------------------
C_V1_3 = "a0178d34f582b50e9bdbb0403943129ae5b560ff"
C_V1_4 = "8e2f32cee982d42a79e53fc1e9aa7b8ff0514714"
SSH_CONFIG = CONFIG.replace(
    "(service openssh-service-type)",
    "(service openssh-service-type (openssh-configuration (permit-root-login ROOT)))")


def _load(tmp_path, text, commit):
    cfg_file = tmp_path / "config.scm"
    cfg_file.write_text(text)
    rev = history.by_commit()[commit]
    return load(str(cfg_file), rev)


def test_prohibit_password_fails_before_ef3f38ea002(tmp_path):
    """gnu/services/ssh.scm@a0178d34f582:441-444: the match on permit-root-login knows #t, #f
    and 'without-password; 'prohibit-password came with ef3f38ea002 (2021-06-20)."""
    from guix_standin.errors import GuixError
    with pytest.raises(GuixError) as e:
        _load(tmp_path, SSH_CONFIG.replace("ROOT", "'prohibit-password"), C_V1_3)
    assert "match-error" in e.value.render() and "prohibit-password" in e.value.render()
    assert _load(tmp_path, SSH_CONFIG.replace("ROOT", "'prohibit-password"),
                 C_V1_4).root_login == "'prohibit-password"


def test_without_password_lets_root_in_with_a_key_at_every_revision(tmp_path):
    """gnu/services/ssh.scm@6298c3ffd965:428-431 ('without-password -> "without-password")
    and @8e2f32cee982:456-459 (deprecated, written as "prohibit-password")."""
    _, daemons = _inittab(tmp_path, SSH_CONFIG.replace("ROOT", "'without-password"))
    assert "PermitRootLogin prohibit-password\n" in daemons[0]      # at 2024-05


def test_timezone_is_optional_from_f78cfcd7d3f(tmp_path):
    """gnu/system.scm@f78cfcd7d3f: timezone defaults to "Etc/UTC" from 2022-10-11."""
    from guix_standin.errors import GuixError
    text = CONFIG.replace('  (timezone "Etc/UTC")\n', "")
    with pytest.raises(GuixError, match=r"missing field initializers \(timezone\)"):
        _load(tmp_path, text, C_V1_3)
    assert _load(tmp_path, text, C_V1_4).timezone == "Etc/UTC"


def test_a_key_written_as_a_string_is_kept_apart(tmp_path):
    """gnu/services/ssh.scm@a0178d34f582:405-426: each key is read with call-with-input-file
    while building openssh-authorized-keys; a string is not a file (the build fails: see
    test_standin_cli.py)."""
    text = CONFIG.replace(
        "(service openssh-service-type)",
        '(service openssh-service-type (openssh-configuration (authorized-keys '
        '`(("alice" "ssh-ed25519 AAAAC3Nza alice")))))')
    cfg = _load(tmp_path, text, C_V1_4)
    assert cfg.authorized_keys == () and cfg.string_keys == (("alice", "ssh-ed25519 AAAAC3Nza alice"),)


def test_the_oldest_commit_check_reads_channels_files_only_from_c3d48d024b9():
    """guix/scripts/time-machine.scm@79ec651a286 validated only --commit/--branch (the ref);
    c3d48d024b9 (2023-09-05) also the commit of a -C FILE's guix channel."""
    import dataclasses as dc
    from datetime import UTC, datetime

    from guix_standin import channels as chans
    from guix_standin.errors import GuixError
    host = dc.replace(history.by_commit()[C_2023_10],
                      date=datetime(2023, 8, 20, tzinfo=UTC))       # 79ec651a286 .. c3d48d024b9
    too_old = [chans.Channel("guix", history.GUIX_URL, "master", history.OLDEST_COMMIT,
                             None)]
    chans.resolve(too_old, lambda c: True, host, ref_given=False)       # -C FILE: not checked
    with pytest.raises(GuixError, match="cannot travel past"):
        chans.resolve(too_old, lambda c: True, host, ref_given=True)    # --commit
    with pytest.raises(GuixError, match="cannot travel past"):
        chans.resolve(too_old, lambda c: True, history.by_commit()[C_2023_10], ref_given=False)


@pytest.mark.parametrize("text, size", [
    # guix/ui.scm@43770a9d8ac:663-673: the number is Guile's string->number of what precedes
    # the last digit or dot
    (".5G", 1 << 29), ("1.G", 1 << 30), ("1e3", 1000), ("1/2G", 1 << 29), ("1P", 1 << 50)])
def test_image_sizes_guile_reads_as_numbers(text, size):
    assert parse_size(text) == size


def test_a_package_with_a_replacement_is_grafted_as_guix_does(tmp_path):
    """gnu/packages/curl.scm@60c97924e95: curl 7.85.0 has (replacement curl/fixed), 8.4.0a;
    the profile gets the replacement's item while the manifest keeps 7.85.0."""
    cfg = CONFIG.replace("(cons nginx %base-packages)",
                         '(cons* nginx (specification->package "curl") %base-packages)')
    for commit, item in ((C_2023_06, "curl-7.85.0"), (C_2023_10, "curl-8.4.0a"),
                         (C_2024_05, "curl-8.5.0")):
        (tmp_path / "config.scm").write_text(cfg)
        rev = history.by_commit()[commit]
        k = Knobs(nondeterministic=frozenset(), slow=0, drift=frozenset(), vanish=frozenset(),
                  big_items=0, big_bytes=0)
        c = Builder(rev, load(str(tmp_path / "config.scm"), rev), default_channels(rev),
                    save_provenance=False, knobs=k, host=lambda: None,
                    kernel=lambda: None).build()
        names = {i.name for i in c.items.values()}
        assert item in names and not ({"curl-7.85.0", "curl-8.4.0a"} - {item}) & names
        (entry,) = [(s.name, s.version, i.name) for s, _o, i in c.packages if s.name == "curl"]
        assert entry[1] == ("7.85.0" if commit != C_2024_05 else "8.5.0")
        assert entry[2] == item


def _filler_seed(node, path: str):
    for part in path.split("/"):
        node = node.entries[part]
    return node.filler


def test_a_rebuild_for_an_input_keeps_the_bytes_of_the_source(tmp_path):
    """Only the source decides a package's data: nginx rebuilt because pcre2 drifted holds the
    same data (it differs only in its own store file name, in its README); pcre2 differs."""
    _p, c_plain = _closure(tmp_path, C_2023_10)
    _d, c_drift = _closure(tmp_path, C_2023_10, drift=["pcre2"])
    for name, same in (("nginx-1.23.3", True), ("pcre2-10.40", False)):
        a = next(i for i in c_plain.items.values() if i.name == name)
        b = next(i for i in c_drift.items.values() if i.name == name)
        assert a.path != b.path
        pkg = name.rsplit("-", 1)[0]
        seed_a = _filler_seed(a.make(), f"lib/{pkg}/{pkg}.data")
        seed_b = _filler_seed(b.make(), f"lib/{pkg}/{pkg}.data")
        assert (seed_a == seed_b) is same
        readme = f"share/doc/{name}/README"
        assert _filler_seed(a.make(), readme) is None
        ra = a.make().entries["share"].entries["doc"].entries[name].entries["README"].data
        rb = b.make().entries["share"].entries["doc"].entries[name].entries["README"].data
        assert ra.replace(a.path.encode(), b"X") == rb.replace(b.path.encode(), b"X")
