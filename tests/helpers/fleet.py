"""Small configs and git repositories for tests: real Guix syntax, dated commits."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.helpers.pins import C_2023_03, C_2023_06, V1_4_0

GUIX_URL = "https://git.savannah.gnu.org/git/guix.git"


# Guix's own channel introduction (the first signed commit and its signer's key), as users put it
# in a channels file that names the savannah URL: a guix whose default URL is another one (2025
# on) refuses to authenticate the channel without it.
GUIX_INTRODUCTION = ("9edb3f66fd807b096b48283debdcddccfea34bad",
                     "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")


def channels_scm(commit: str | None, introduction: bool = False) -> str:
    pin = f'\n          (commit "{commit}")' if commit else ""
    intro = ("\n        (introduction\n          (make-channel-introduction\n"
             f'            "{GUIX_INTRODUCTION[0]}"\n            (openpgp-fingerprint\n'
             f'              "{GUIX_INTRODUCTION[1]}")))') if introduction else ""
    return f"""(list (channel
        (name 'guix)
        (url "{GUIX_URL}")
        (branch "master"){pin}{intro}))
"""


def os_config(host: str = "web", packages=("nginx",), key_file: str | None = "vmfleet.pub",
              extra_services: str = "", root_login: str = "'prohibit-password") -> str:
    """A system config; ``root_login`` is its permit-root-login (a pin before ef3f38ea002,
    2021-06-20, needs ``'without-password``: docs/guix-facts.md, "SSH")."""
    pkgs = " ".join(f'(specification->package "{p}")' for p in packages)
    keys = (f'\n                  (authorized-keys `(("root" ,(local-file "{key_file}"))))'
            if key_file else "")
    return f""";; {host}: a test system
(use-modules (gnu))
(use-service-modules networking ssh)

(operating-system
  (host-name "{host}")
  (timezone "Europe/Berlin")
  (locale "en_US.utf8")
  (bootloader (bootloader-configuration
                (bootloader grub-bootloader)
                (targets '("/dev/vda"))))
  (file-systems (cons (file-system
                        (mount-point "/")
                        (device "/dev/vda2")
                        (type "ext4"))
                      %base-file-systems))
  (packages (append (list {pkgs}) %base-packages))
  (services (append (list (service dhcp-client-service-type)
                          (service openssh-service-type
                            (openssh-configuration
                              (permit-root-login {root_login}){keys})){extra_services})
                    %base-services)))
"""


def git(repo: Path, *args: str, date: str | None = None) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "t@example.invalid",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "t@example.invalid"}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                          text=True, env=env).stdout


def commit_files(repo: Path, files: dict[str, str | None], message: str, date: str) -> str:
    """Write (or delete, for None) files and commit them at ``date``; return the commit id."""
    for rel, text in files.items():
        path = repo / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, date=date)
    return git(repo, "rev-parse", "HEAD").strip()


def new_repo(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", "main")
    return path


# A fleet repository with a dated history: five commits, four of which change web's inputs
# (the conftest fixture ``git_fleet``).
C1, C2, C3 = V1_4_0, C_2023_03, C_2023_06
KEY1 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE2n1jeq3y0HHqkYGmXkJj5cSgu0kDm2Jz3wPE3oqJ1E one\n"
KEY2 = KEY1.replace("one", "two")


def dated_fleet_repo(path: Path) -> Path:
    repo = new_repo(path)
    commit_files(repo, {"systems/web.scm": os_config("web"), "systems/vmfleet.pub": KEY1,
                        "channels.scm": channels_scm(C1), "README": "fleet\n"},
                 "web: first version", "2023-06-12T10:00:00+00:00")
    commit_files(repo, {"README": "unrelated\n"}, "docs only", "2023-07-01T10:00:00+00:00")
    commit_files(repo, {"channels.scm": channels_scm(C2),
                        "systems/web.scm": os_config("web", ("nginx", "curl"))},
                 "upgrade guix, add curl", "2023-10-20T09:30:00+00:00")
    commit_files(repo, {"systems/vmfleet.pub": KEY2}, "rotate key", "2024-01-05T08:00:00+02:00")
    commit_files(repo, {"channels.scm": channels_scm(C3)}, "upgrade guix", "2024-05-14T16:00:00+00:00")
    return repo
