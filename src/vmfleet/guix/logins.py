"""Who vmfleet can log into a VM as, by what its config's openssh service allows.

Guix's rules (gnu/services/ssh.scm; docs/guix-facts.md, "SSH"): ``openssh-configuration``'s
``authorized-keys`` lists ``(USER KEY-FILE …)`` entries, each key a file-like object read
while building (a key written as a string fails the build), which activation copies to
``/etc/ssh/authorized_keys.d/USER``; ``permit-root-login`` defaults to ``#f``
(``PermitRootLogin no``); ``#t`` and ``'without-password`` let root in with a key at every
revision, ``'prohibit-password`` only from ef3f38ea002 (2021-06-20: before it the build fails
on that value, and ``'without-password`` is what to write). So
vmfleet logs in as root only where the config permits it and gives root vmfleet's key;
otherwise as the first user whose authorized keys hold vmfleet's key, a ``wheel`` member
first. A config nobody can log into with vmfleet's key is refused before anything boots, with
the ``openssh-configuration`` lines that would let vmfleet in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vmfleet.errors import DeployError
from vmfleet.guix.os_config import OsSummary
from vmfleet.guix.revisions import Feature, Revision

ROOT_ALLOWED = ("#t", "prohibit-password", "without-password")
NO_REVISION = Revision(None, None, None)
OPENSSH = "openssh-service-type"


@dataclass(frozen=True)
class Login:
    user: str
    why: str          # for messages: 'root (permit-root-login prohibit-password)', …


def key_fields(text: str) -> set[tuple[str, str]]:
    """(type, base64) of each public key line of an authorized-keys text (options and comments
    ignored), as sshd matches them."""
    out = set()
    for line in text.splitlines():
        parts = line.split()
        for i, part in enumerate(parts[:-1]):
            if part.startswith(("ssh-", "ecdsa-", "sk-")):
                out.add((part, parts[i + 1]))
                break
    return out


def _key_content(ref: str, files: Mapping[str, bytes]) -> str:
    """An authorized-keys entry's content: a local file of the generation, else the text."""
    import posixpath

    content = files.get(posixpath.normpath(ref))
    return content.decode("utf-8", "replace") if content is not None else ref


def holders(summary: OsSummary, files: Mapping[str, bytes], key: str) -> list[str]:
    """The users whose authorized keys (in the config's openssh service) hold ``key``."""
    mine = key_fields(key)
    out: list[str] = []
    for user, ref in summary.authorized_keys:
        if key_fields(_key_content(ref, files)) & mine and user not in out:
            out.append(user)
    return out


def root_value(rev: Revision) -> str:
    """What to write for root logins with a key at ``rev``: 'without-password (accepted at
    every revision) where the pin predates 'prohibit-password, else 'prohibit-password (an
    unknown pin is taken as a recent guix)."""
    return "'without-password" if rev.has(Feature.PROHIBIT_PASSWORD) is False \
        else "'prohibit-password"


def choose(summary: OsSummary, files: Mapping[str, bytes], key: str, *,
           config: str = "the config", key_file: str = "keys/id_ed25519.pub",
           rev: Revision = NO_REVISION) -> Login:
    """The login vmfleet uses for a system, or DeployError saying what to add to the config.
    ``rev`` is the pinned guix (unknown: each value is taken as the newest guix reads it)."""
    runs_openssh = any(s.type == OPENSSH for s in summary.services)
    users = holders(summary, files, key)
    declared = {name for name, _groups in summary.user_groups}
    wheel = [name for name, groups in summary.user_groups if "wheel" in groups]
    permit = summary.permit_root_login
    allowed = ROOT_ALLOWED if rev.has(Feature.PROHIBIT_PASSWORD) is not False \
        else tuple(v for v in ROOT_ALLOWED if v != "prohibit-password")
    if runs_openssh:
        if "root" in users and permit in allowed:
            return Login("root", f"root (permit-root-login {permit})")
        candidates = [u for u in users if u != "root" and u in declared]
        for u in sorted(candidates, key=lambda u: u not in wheel):
            return Login(u, f"{u} (authorized-keys{', wheel' if u in wheel else ''})")
    raise DeployError(*_refusal(summary, files, key, users, declared, wheel, runs_openssh,
                                config, key_file, rev))


def _refusal(summary: OsSummary, files, key, users, declared, wheel, runs_openssh, config,
             key_file, rev: Revision) -> tuple[str, str]:
    as_strings = [u for u, text in summary.string_keys if key_fields(text) & key_fields(key)]
    if not runs_openssh:
        why = f"{config} runs no openssh-service-type"
    elif as_strings and not users:
        why = (f"{config} writes vmfleet's key for {', '.join(dict.fromkeys(as_strings))} as a "
               f"string: Guix reads each authorized key as a file (local-file, plain-file), so "
               f"a string fails the build")
    elif "root" in users and summary.permit_root_login == "prohibit-password" \
            and rev.has(Feature.PROHIBIT_PASSWORD) is False:
        why = (f"{config} says (permit-root-login 'prohibit-password), which the pinned guix "
               f"({rev.label or rev.commit}) does not know: it fails to build (the value "
               f"appeared 2021-06-20, ef3f38ea002)")
    elif not users:
        why = f"no authorized-keys entry of {config}'s openssh service holds vmfleet's key"
    elif "root" in users and [u for u in users if u != "root"] == []:
        why = (f"{config} gives vmfleet's key to root only, and root may not log in "
               f"(permit-root-login {summary.permit_root_login or '#f, the default'})")
    else:
        missing = ", ".join(u for u in users if u != "root" and u not in declared)
        why = f"{config} gives vmfleet's key to {missing}, which it declares no user-account for"
    user = wheel[0] if wheel else None
    lines = ["(service openssh-service-type", "  (openssh-configuration"]
    if user is None:
        lines.append(f"    (permit-root-login {root_value(rev)})")
    lines += ["    (authorized-keys", f'     `(("{user or "root"}" ,(local-file "vmfleet.pub"))))))']
    hint = (f"vmfleet logs in with its key (vmfleet.pub next to the config: a copy of "
            f"{key_file}); add to the config's services:\n    "
            + "\n    ".join(lines)
            + ("" if user else "\n(or give the key to a user-account in the wheel group)")
            + "\nthen record it again (vmfleet add), or log in as someone else with --ssh-user")
    return f"nobody can log into {config} with vmfleet's key: {why}", hint
