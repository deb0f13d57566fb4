"""Who vmfleet logs in as: what the config's openssh service allows vmfleet's key
(gnu/services/ssh.scm: permit-root-login defaults to #f), decided before anything boots."""

from __future__ import annotations

import pytest

from tests.helpers.deploy_env import Fleet, make_fleet
from tests.helpers.diskimage import C_OLD
from tests.helpers.fleet import channels_scm
from vmfleet.deploy import lifecycle, vm_access
from vmfleet.deploy.vm_records import Options, get_vm
from vmfleet.errors import DeployError
from vmfleet.guix import logins
from vmfleet.guix.os_config import summarize_os
from vmfleet.registry import generations
from vmfleet.tools import ssh

KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOKaMyyonMd9dlllWat8LSt1WLVewcuk6XdOn7pDTFhz vmfleet\n"
OTHER = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E alice\n"


def config(keys: str, permit: str | None = None, users: str = "") -> str:
    permit_line = f"\n      (permit-root-login {permit})" if permit else ""
    return f"""(use-modules (gnu))
(use-service-modules networking ssh)
(operating-system
  (host-name "web")
  (timezone "Europe/Berlin")
  (bootloader (bootloader-configuration (bootloader grub-bootloader) (targets '("/dev/vda"))))
  (file-systems %base-file-systems)
  (users (append (list {users}) %base-user-accounts))
  (services (append (list (service openssh-service-type
    (openssh-configuration{permit_line}
      (authorized-keys `({keys})))))
    %base-services)))
"""


DEPLOY = '(user-account (name "deploy") (group "users") (supplementary-groups \'("wheel" "audio")))'
ALICE = '(user-account (name "alice") (group "users"))'


def choose(text, files=None, key=KEY):
    return logins.choose(summarize_os(text), files or {"vmfleet.pub": KEY.encode(),
                                                       "alice.pub": OTHER.encode()}, key)


def test_root_only_where_permitted():
    root = '("root" ,(local-file "vmfleet.pub"))'
    assert choose(config(root, "'prohibit-password")).user == "root"
    assert choose(config(root, "#t")).user == "root"
    for permit in (None, "#f"):   # not written: Guix's default is #f
        with pytest.raises(DeployError) as e:
            choose(config(root, permit))
        assert "root may not log in" in e.value.message


def test_an_ordinary_wheel_user_with_vmfleets_key():
    keys = '("alice" ,(local-file "vmfleet.pub")) ("deploy" ,(local-file "vmfleet.pub"))'
    login = choose(config(keys, users=f"{ALICE} {DEPLOY}"))
    assert login.user == "deploy" and "wheel" in login.why     # wheel first
    keys = '("alice" ,(local-file "vmfleet.pub")) ("deploy" ,(local-file "alice.pub"))'
    assert choose(config(keys, users=f"{ALICE} {DEPLOY}")).user == "alice"


def test_root_not_permitted_falls_to_the_user():
    keys = '("root" ,(local-file "vmfleet.pub")) ("deploy" ,(local-file "vmfleet.pub"))'
    assert choose(config(keys, users=DEPLOY)).user == "deploy"


def test_a_key_that_is_not_vmfleets_lets_nobody_in():
    with pytest.raises(DeployError) as e:
        choose(config('("deploy" ,(local-file "alice.pub"))', users=DEPLOY))
    assert "no authorized-keys entry" in e.value.message
    # The exact lines to add name the wheel user.
    assert '`(("deploy" ,(local-file "vmfleet.pub")))' in e.value.hint
    assert "(service openssh-service-type" in e.value.hint


def test_an_undeclared_user_lets_nobody_in():
    with pytest.raises(DeployError, match="key to ghost, which it declares no user-account for"):
        choose(config('("ghost" ,(local-file "vmfleet.pub"))'))


def test_guixs_default_accounts_do_not_change_the_login():
    # No users field: %base-user-accounts, "nobody" only (gnu/system/shadow.scm@8e2f32cee98:109);
    # root is not in it but always exists (gnu/system.scm@8e2f32cee98:1112).
    text = config('("root" ,(local-file "vmfleet.pub"))', "#t").replace(
        "  (users (append (list ) %base-user-accounts))\n", "")
    assert "(users" not in text and summarize_os(text).users == ("%base-user-accounts",)
    assert choose(text).user == "root"
    for who in ("nobody", "deploy"):   # no account the config declares for vmfleet to use
        with pytest.raises(DeployError, match="declares no user-account"):
            choose(text.replace('("root"', f'("{who}"'))


def test_no_openssh_service():
    text = config('("root" ,(local-file "vmfleet.pub"))', "#t").replace(
        "openssh-service-type", "dropbear-service-type")
    with pytest.raises(DeployError, match="runs no openssh-service-type") as e:
        choose(text)
    assert "(permit-root-login 'prohibit-password)" in e.value.hint


def test_keys_match_by_type_and_key_not_comment():
    keys = f'("deploy" ,(plain-file "k" "{KEY.replace(" vmfleet", " other-comment").strip()}"))'
    assert choose(config(keys, users=DEPLOY)).user == "deploy"


# --- deploy: refused before booting; the login recorded per VM ---------------------------------

@pytest.fixture
def fleet(tmp_path, monkeypatch):
    yield from make_fleet(tmp_path, monkeypatch)


def record(f: Fleet, text: str, system="desk") -> generations.Generation:
    inputs = generations.Inputs("desk.scm", text, channels_scm(C_OLD),
                                {"vmfleet.pub": ssh.public_key(f.home.keys).encode()})
    return generations.record(f.reg, system, inputs, current_from="2024-01-01T00:00:00Z")[0]


def test_deploy_refuses_a_config_nobody_can_log_into_before_booting(fleet):
    gen = record(fleet, config('("root" ,(local-file "vmfleet.pub"))'))
    with pytest.raises(DeployError, match="nobody can log into desk@1"):
        lifecycle.deploy_image(fleet.reg, fleet.home, gen, fleet.image, options=Options(wait=False))
    assert fleet.domains() == [] and fleet.reg.query("SELECT * FROM vms") == []


def test_deploy_records_the_login_and_ssh_uses_it(fleet, monkeypatch):
    gen = record(fleet, config('("deploy" ,(local-file "vmfleet.pub"))', users=DEPLOY))
    vm = lifecycle.deploy_image(fleet.reg, fleet.home, gen, fleet.image,
                                options=Options(wait=False))
    assert vm.ssh_user == "deploy" and get_vm(fleet.reg, vm.name).ssh_user == "deploy"
    seen = []
    monkeypatch.setattr(vm_access.ssh, "connect",
                        lambda *a, **k: seen.append(k["user"]) or (_ for _ in ()).throw(
                            DeployError("stop", "here")))
    fleet.reg.execute("UPDATE vms SET state = 'running', ssh_host = '127.0.0.1', ssh_port = 2 "
                      "WHERE name = ?", (vm.name,))
    for user in (None, "alice"):
        with pytest.raises(DeployError, match="stop"):
            vm_access.connect_ssh(fleet.reg, fleet.home, vm.name, ssh_user=user)
    assert seen == ["deploy", "alice"]


def test_ssh_user_overrides_the_config(fleet):
    gen = record(fleet, config('("root" ,(local-file "vmfleet.pub"))'))
    vm = lifecycle.deploy_image(fleet.reg, fleet.home, gen, fleet.image,
                                options=Options(wait=False, ssh_user="admin"))
    assert vm.ssh_user == "admin"


def test_the_example_systems_let_vmfleet_in():
    """db.scm gives vmfleet's key to an ordinary wheel user (Guix's default: no root logins);
    web.scm permits root with a key."""
    from pathlib import Path

    systems = Path(__file__).resolve().parents[2] / "systems"
    key = (systems / "vmfleet.pub").read_text()
    files = {"vmfleet.pub": key.encode()}
    db = summarize_os((systems / "db.scm").read_text())
    assert db.permit_root_login is None
    assert logins.choose(db, files, key).user == "dba"
    assert logins.choose(summarize_os((systems / "web.scm").read_text()), files, key).user == "root"


# gnu/services/ssh.scm@a0178d34f582:441-444: before ef3f38ea002 (2021-06-20) the match on
# permit-root-login knows #t, #f and 'without-password only; 'prohibit-password fails there.
def test_prohibit_password_lets_root_in_only_from_ef3f38ea002():
    from vmfleet.guix.revisions import KNOWN_COMMITS, revision
    root = '("root" ,(local-file "vmfleet.pub"))'
    text = config(root, "'prohibit-password")
    files = {"vmfleet.pub": KEY.encode()}
    for label in ("v1.0.0", "2019-12", "v1.2.0", "v1.3.0"):
        with pytest.raises(DeployError) as e:
            logins.choose(summarize_os(text), files, KEY, rev=revision(KNOWN_COMMITS[label][0]))
        assert "prohibit-password" in e.value.message
        assert "(permit-root-login 'without-password)" in e.value.hint    # what that guix takes
        assert "(permit-root-login 'prohibit-password)" not in e.value.hint
    new = revision(KNOWN_COMMITS["v1.4.0"][0])
    assert logins.choose(summarize_os(text), files, KEY, rev=new).user == "root"
    # 'without-password is accepted at every revision (deprecated from ef3f38ea002 on)
    old = revision(KNOWN_COMMITS["v1.0.0"][0])
    assert logins.choose(summarize_os(config(root, "'without-password")), files, KEY,
                         rev=old).user == "root"


# gnu/services/ssh.scm@a0178d34f582:405-426: each key is opened with call-with-input-file
# while building openssh-authorized-keys: a key written as a string fails the build.
def test_a_key_written_as_a_string_is_not_a_login():
    text = config(f'("alice" "{KEY.strip()}")', users=ALICE)
    with pytest.raises(DeployError) as e:
        choose(text)
    assert "string" in e.value.message and "alice" in e.value.message
    assert 'local-file "vmfleet.pub"' in e.value.hint
    assert summarize_os(text).string_keys == (("alice", KEY.strip()),)
    assert summarize_os(text).authorized_keys == ()
    plain = config(f'("alice" ,(plain-file "k" "{KEY.strip()}"))', users=ALICE)
    assert choose(plain).user == "alice"
