"""Channels as ``guix time-machine`` and ``guix describe`` handle them.

A channels file is evaluated by the stand-in's evaluator (evaluate.py): its value must be a
list of channels (guix/channels.scm's ``channel`` records; ``%default-channels`` and
``%default-guix-channel`` are those of the guix running time-machine). The guix channel is
resolved against the stand-in's history table: an unknown commit is a Git error, one that does
not descend from v0.16.0 cannot be travelled to, an unpinned guix channel follows its branch
(the newest revision). Other channels are accepted and carried into provenance as they are (a
pinned commit is used as written; an unpinned one gets a stable made-up commit), but they
bring no packages.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from vmfleet.guix.reader import Symbol

from . import history
from .errors import GuixError, Unsupported
from .history import GUIX_URLS, INTRODUCTION_COMMIT, INTRODUCTION_SIGNER, Revision

GUIX_INTRODUCTION = (INTRODUCTION_COMMIT, INTRODUCTION_SIGNER)


@dataclass(frozen=True)
class Introduction:
    commit: str
    fingerprint: str


@dataclass(frozen=True)
class Channel:
    """A channel as a channels file declares it."""

    name: str
    url: str
    branch: str | None
    commit: str | None
    introduction: Introduction | None


@dataclass(frozen=True)
class Resolved:
    """A channel after time-machine fetched it: the commit it is at."""

    name: str
    url: str
    branch: str | None
    commit: str
    introduction: tuple[str, str] | None


@dataclass(frozen=True)
class Travel:
    """Where ``guix time-machine`` goes: the guix revision and every channel's commit."""

    revision: Revision
    channels: tuple[Resolved, ...]
    fetched: tuple[Resolved, ...]  # channels whose commit was not in the cache yet


def default_channels(rev: Revision) -> tuple[Resolved, ...]:
    """%default-channels of a revision (guix/channels.scm): its default URL, with the
    introduction."""
    return (Resolved("guix", rev.default_url, "master", rev.commit, GUIX_INTRODUCTION),)


def _is_guix_url(url: str) -> bool:
    """One of the URLs the guix channel has lived at (Savannah, Codeberg, git.guix.gnu.org)."""
    u = url.rstrip("/")
    return u in GUIX_URLS or u + ".git" in GUIX_URLS


def read_channels_file(path: str, host: Revision) -> list[Channel]:
    """Evaluate a channels file (guix/scripts/pull.scm, channel-list: ``load*`` of the file)."""
    from .evaluate import Evaluator, Record, Unbound
    from .osconfig import _unbound, hooks_for

    p = Path(path)
    if not p.exists():
        raise GuixError(f"failed to load '{path}': No such file or directory",
                        program="guix time-machine")
    ev = Evaluator(hooks_for(host))
    try:
        value = ev.load_file(str(p.absolute()))
    except Unbound as e:
        raise _unbound(e) from None
    except GuixError as e:
        if e.program == "guix system":
            e.program = "guix time-machine"
        raise
    items = value if isinstance(value, list) else [value]
    out = []
    for c in items:
        if not (isinstance(c, Record) and c.type == "channel"):
            raise GuixError(f"'{path}': not a list of channels", program="guix time-machine")
        f = c.fields
        intro = f.get("introduction")
        introduction = None
        if isinstance(intro, Record):
            introduction = Introduction(str(intro.fields.get("commit")),
                                        str(intro.fields.get("signer")))
        name = f.get("name")
        out.append(Channel(str(name) if isinstance(name, Symbol) else str(name),
                           f.get("url") if isinstance(f.get("url"), str) else "",
                           f.get("branch") if isinstance(f.get("branch"), str) else None,
                           f.get("commit") if isinstance(f.get("commit"), str) else None,
                           introduction))
    return out


def _guix_commit(channel: Channel, host: Revision, ref_given: bool = False) -> Revision:
    url = channel.url
    if not _is_guix_url(url):
        host = re.sub(r"^[a-z+]+://([^/]*).*$", r"\1", url)
        raise GuixError(f"Git error: failed to resolve address for {host}: Name or service "
                        "not known", program="guix time-machine")
    if channel.commit is None:
        return history.newest()
    commit = channel.commit.lower()
    matches = [r for r in history.REVISIONS
               if r.commit == commit or (len(commit) >= 7 and r.commit.startswith(commit))]
    if len(matches) != 1 or not re.fullmatch(r"[0-9a-f]{7,40}", commit):
        raise GuixError(f"Git error: object not found - no match for id ({channel.commit})",
                        program="guix time-machine")
    rev = matches[0]
    # guix/scripts/time-machine.scm@79ec651a286 validated the ref (--commit, --branch) only;
    # c3d48d024b9 (2023-09-05) also a channels file's guix commit
    oldest = host.oldest_commit if ref_given or host.has("travel-check-channels-file") \
        else None
    if oldest is not None and not rev.descends_from(oldest):
        # guix/scripts/time-machine.scm of the guix running time-machine; the date is
        # v1.0.0's even when the hash is v0.16.0's
        raise GuixError(f"cannot travel past commit `{oldest[:12]}' from May 1st, 2019",
                        program="guix time-machine")
    if not rev.reachable:
        raise Unsupported(f"stand-in: this guix ({host.short}) does not check how old a "
                          f"commit is, but the stand-in cannot build {rev.short} (before "
                          "v0.16.0)", program="guix time-machine")
    return rev


def resolve(channels: list[Channel], is_cached, host: Revision, *,
            authenticate: bool = True, ref_given: bool = False) -> Travel:
    """Resolve a channel list (what time-machine does before building anything).

    ``host`` is the guix running time-machine: its ``ensure-default-introduction``
    (guix/channels.scm) gives the guix channel the default introduction only when the URL is
    exactly its %default-channel-url; a guix channel left without one is refused."""
    guix = [c for c in channels if c.name == "guix"]
    if not guix:
        # Without a guix channel, time-machine has no Guix to run.
        raise GuixError("guix: channel not found in channel list", program="guix time-machine",
                        hints=("Add the 'guix' channel to the channels file, for instance "
                               "with %default-channels.",))
    out, fetched, rev = [], [], None
    for c in channels:
        if c.name == "guix":
            rev = _guix_commit(c, host, ref_given)  # Git errors, "cannot travel" come first
            commit = rev.commit
            intro = ((c.introduction.commit, c.introduction.fingerprint)
                     if c.introduction else None)
            if intro is None and c.url == host.default_url:
                intro = GUIX_INTRODUCTION
            if intro is None and authenticate:
                raise GuixError("channel 'guix' lacks an introduction and cannot be "
                                "authenticated", program="guix time-machine",
                                hints=("Add the missing introduction to your channels file "
                                       "to address the issue.  Alternatively, you can pass "
                                       "`--disable-authentication', at the risk of running "
                                       "unauthenticated and thus potentially malicious code.",))
        else:
            commit = (c.commit or hashlib.sha1(f"{c.url} {c.branch}".encode()).hexdigest())
            intro = ((c.introduction.commit, c.introduction.fingerprint)
                     if c.introduction else None)
        r = Resolved(c.name, c.url, c.branch, commit, intro)
        out.append(r)
        if not is_cached(r):
            fetched.append(r)
    return Travel(rev, tuple(out), tuple(fetched))


def travel_to_commit(commit: str, url: str | None, branch: str | None,
                     host: Revision) -> list[Channel]:
    """``time-machine --commit=C [--url=U] [--branch=B]``: the host's default guix channel
    at that commit (guix/scripts/pull.scm, channel-list)."""
    return [Channel("guix", url or host.default_url, branch or "master", commit, None)]


# --- writing channels (describe, channels.scm, provenance) -----------------------------------


def channels_scm(channels: tuple[Resolved, ...], *, introductions: bool = True) -> str:
    """What ``guix describe -f channels`` prints (and Guix stores as channels.scm)."""
    parts = []
    for c in channels:
        lines = [f"(channel\n        (name '{c.name})", f'        (url "{c.url}")']
        if c.branch:
            lines.append(f'        (branch "{c.branch}")')
        lines.append(f'        (commit\n          "{c.commit}")')
        if introductions and c.introduction:
            ic, signer = c.introduction
            lines.append("        (introduction\n          (make-channel-introduction\n"
                         f'            "{ic}"\n            (openpgp-fingerprint\n'
                         f'              "{signer}")))')
        parts.append("\n".join(lines) + ")")
    return "(list " + "\n      ".join(parts) + ")\n"


def channels_json(channels: tuple[Resolved, ...]) -> str:
    out = []
    for c in channels:
        d = {"name": c.name, "url": c.url}
        if c.branch:
            d["branch"] = c.branch
        d["commit"] = c.commit
        if c.introduction:
            d["introduction"] = {"commit": c.introduction[0], "signer": c.introduction[1]}
        out.append(d)
    return json.dumps(out) + "\n"


def provenance(channels: tuple[Resolved, ...], config_item: str | None) -> str:
    """``<system>/provenance`` (gnu/services.scm, provenance-file: no introductions;
    ``(configuration-file #f)`` when the system came from ``-e``)."""
    chans = []
    for c in channels:
        branch = f'\n    (branch "{c.branch}")' if c.branch else ""
        chans.append(f'  (channel\n    (name {c.name})\n    (url "{c.url}"){branch}\n'
                     f'    (commit "{c.commit}"))')
    text = "(provenance\n (version 0)\n (channels\n" + "\n".join(chans) + ")"
    named = f'"{config_item}"' if config_item else "#f"
    return text + f"\n (configuration-file {named}))\n"
