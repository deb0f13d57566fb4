"""Small channel repositories for the ``diff --why`` tests.

``guix_like``: a channel whose history follows Guix's commit conventions (the subjects Guix's
commit helper writes: etc/committer.scm.in@60c97924e95:281 ``gnu: ~a: Update to ~a.``, :310
``gnu: Add ~a.``, :317 ``gnu: Remove ~a.``, :335 ``gnu: ~a: ~a.``), including a security
replacement the way gnu/packages/curl.scm@60c97924e95:64-68,158-162 has one (``curl`` keeps
7.85.0 with ``(replacement curl/fixed)``, and curl/fixed is 8.4.0a, padded for grafting).
``own_conventions``: a channel whose subjects say nothing about packages, so only the files
a commit touched tell which package it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tests.helpers.fleet import commit_files, git, new_repo


def _package(var: str, name: str, version: str, extra: str = "") -> str:
    return (f'(define-public {var}\n  (package\n    (name "{name}")\n'
            f'    (version "{version}"){extra}))\n')


@dataclass(frozen=True)
class GuixLike:
    repo: Path
    pin_a: str
    pin_b: str
    commits: dict[str, str]       # subject -> commit


def guix_like(path: Path) -> GuixLike:
    repo = new_repo(path)
    commits: dict[str, str] = {}

    def c(files, subject, date):
        commits[subject] = commit_files(repo, files, subject, date)
        return commits[subject]

    c({"gnu/packages/ssh.scm": _package("openssh", "openssh", "9.3p1"),
       "gnu/packages/curl.scm": _package("curl", "curl", "7.85.0"),
       "gnu/packages/compression.scm": _package("zlib", "zlib", "1.2.13"),
       "gnu/packages/base.scm": _package("glibc", "glibc", "2.35")},
      "gnu: openssh: Update to 9.3p1.", "2023-06-01T10:00:00+00:00")
    pin_a = git(repo, "rev-parse", "HEAD").strip()
    c({"gnu/packages/ssh.scm": _package("openssh", "openssh", "9.3p2")},
      "gnu: openssh: Update to 9.3p2.", "2023-07-16T10:00:00+00:00")
    c({"gnu/packages/ssh.scm": _package("openssh", "openssh", "9.3p2", "\n    ;; gexps")},
      "gnu: openssh: Use G-expressions.", "2023-07-16T11:00:00+00:00")
    c({"gnu/packages/ssh.scm": _package("openssh", "openssh", "9.4p1", "\n    ;; gexps")},
      "gnu: openssh: Update to 9.4p1.", "2023-08-06T10:00:00+00:00")
    c({"gnu/packages/compression.scm": _package("zlib", "zlib", "1.3")},
      "gnu: zlib: Update to 1.3.", "2023-08-20T10:00:00+00:00")
    c({"gnu/packages/ssh.scm": _package("mosh", "mosh", "1.4.0")},
      "gnu: Add mosh.", "2023-09-01T10:00:00+00:00")
    c({"gnu/packages/curl.scm": _package("curl", "curl", "7.85.0",
                                         "\n    (replacement curl/fixed)")
       + _package("curl/fixed", "curl", "8.4.0a")},
      "gnu: curl/fixed: Update to 8.4.0 [security fixes].", "2023-10-11T10:00:00+00:00")
    c({"gnu/packages/base.scm": _package("glibc", "glibc", "2.35", "\n    ;; a patch")},
      "gnu: glibc: Add patch for CVE-2023-4911.", "2023-10-12T10:00:00+00:00")
    pin_b = git(repo, "rev-parse", "HEAD").strip()
    c({"gnu/packages/ssh.scm": _package("openssh", "openssh", "9.5p1")},
      "gnu: openssh: Update to 9.5p1.", "2023-11-01T10:00:00+00:00")
    return GuixLike(repo, pin_a, pin_b, commits)


def own_conventions(path: Path) -> GuixLike:
    repo = new_repo(path)
    commits: dict[str, str] = {}

    def c(files, subject, date):
        commits[subject] = commit_files(repo, files, subject, date)

    c({"acme/packages/tools.scm": _package("acme-tool", "acme-tool", "1.0"),
       "acme/packages/other.scm": _package("acme-other", "acme-other", "2.0")},
      "Initial import", "2023-06-01T10:00:00+00:00")
    pin_a = git(repo, "rev-parse", "HEAD").strip()
    c({"acme/packages/tools.scm": _package("acme-tool", "acme-tool", "1.1")},
      "bump the tool", "2023-07-01T10:00:00+00:00")
    c({"acme/packages/other.scm": _package("acme-other", "acme-other", "2.1")},
      "other: new release", "2023-07-02T10:00:00+00:00")
    c({"README": "acme channel\n"}, "docs", "2023-07-03T10:00:00+00:00")
    pin_b = git(repo, "rev-parse", "HEAD").strip()
    return GuixLike(repo, pin_a, pin_b, commits)
