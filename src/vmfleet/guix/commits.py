"""Guix's commit conventions: what a commit subject of a channel says about which package.

A Guix commit names the package it touches in its subject, in the forms Guix's own commit
helper writes (etc/committer.scm.in@60c97924e95:281 ``gnu: ~a: Update to ~a.``, :310 ``gnu: Add
~a.``, :317 ``gnu: Remove ~a.``, :335 ``gnu: ~a: ~a.``):

- ``gnu: Add NAME.``                              a new package
- ``gnu: NAME: Update to VERSION.``               a new version (``… [security fixes].`` may follow)
- ``gnu: Remove NAME.``                           a package removed
- ``gnu: NAME: …``                                any other change (patches, inputs, arguments)
- ``gnu: NAME, NAME2: …``                         the same change to several packages
- ``gnu: NAME/fixed: …``                          the replacement (security graft) of NAME

NAME is the Scheme variable, which is the package's name for nearly every package. A graft's
replacement pads its version to the original's length (``curl/fixed`` is 8.4.0a:
gnu/packages/curl.scm@60c97924e95:162, ``add lowercase 'a' for grafting``), so a replacement's
version matches the ``Update to`` of its commit as a prefix.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_ADD = re.compile(r"^gnu: Add (\S+?)\.?$")
_REMOVE = re.compile(r"^gnu: Remove (\S+?)\.?$")
_NAMED = re.compile(r"^gnu: ([^:\s][^:]*?): (.*)$")
_UPDATE = re.compile(r"^Update to (?:version )?(\S+?)\.?(?:\s|$)")
_NAME_OK = re.compile(r"^[A-Za-z0-9+._@/-]+$")


@dataclass(frozen=True)
class Mention:
    """One package a commit subject names, and how."""

    variable: str        # as written: curl/fixed, openssh, python-3.10
    kind: str            # add, update, remove, other
    version: str | None = None   # for update

    @property
    def package(self) -> str:
        """The package the variable stands for: ``curl/fixed`` → ``curl``."""
        return self.variable.split("/", 1)[0]

    @property
    def variant(self) -> str | None:
        """``fixed`` for ``curl/fixed`` (a replacement, by convention), else None."""
        return self.variable.split("/", 1)[1] if "/" in self.variable else None


def mentions(subject: str) -> tuple[Mention, ...]:
    """The packages a subject names under Guix's conventions (none for other subjects)."""
    subject = subject.strip()
    if m := _ADD.match(subject):
        return _valid((Mention(m.group(1), "add"),))
    if m := _REMOVE.match(subject):
        return _valid((Mention(m.group(1), "remove"),))
    m = _NAMED.match(subject)
    if not m:
        return ()
    names = [n.strip() for n in m.group(1).split(",")]
    rest = m.group(2)
    u = _UPDATE.match(rest)
    kind, version = ("update", u.group(1)) if u else ("other", None)
    return _valid(tuple(Mention(n, kind, version) for n in names))


def _valid(found: tuple[Mention, ...]) -> tuple[Mention, ...]:
    return tuple(m for m in found if m.variable and _NAME_OK.match(m.variable))


def version_matches(commit_version: str, item_version: str) -> bool:
    """An ``Update to V`` matches a store item's version V, or V padded for grafting (a suffix
    of letters: 8.4.0 → 8.4.0a)."""
    if commit_version == item_version:
        return True
    return (item_version.startswith(commit_version)
            and item_version[len(commit_version):].isalpha())
