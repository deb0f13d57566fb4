"""Channel files: what ``guix describe -f channels`` prints and the idioms seen in the wild,
read into pinned :class:`Channel` records (docs/guix-facts.md, "Time travel … and channels").
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sexpdata import Symbol

from vmfleet.errors import SchemeError
from vmfleet.guix import reader, walker
from vmfleet.guix.walker import head

# --- channels ---------------------------------------------------------------------------------

GUIX_URL = "https://git.savannah.gnu.org/git/guix.git"
_GUIX_URL_KEYS = {  # host + path without a trailing ".git"
    "git.savannah.gnu.org/git/guix", "git.sv.gnu.org/git/guix", "git.savannah.gnu.org/guix",
    "codeberg.org/guix/guix", "git.guix.gnu.org/guix",
}


@dataclass(frozen=True)
class Introduction:
    """A channel introduction: the first signed commit and its signer's OpenPGP fingerprint."""

    commit: str
    fingerprint: str

    def to_dict(self) -> dict:
        return {"commit": self.commit, "fingerprint": self.fingerprint}


@dataclass(frozen=True)
class Channel:
    """One channel of a channels file. ``pinned`` is true when it names a commit."""

    name: str
    url: str
    branch: str | None = None
    commit: str | None = None
    introduction: Introduction | None = None

    @property
    def pinned(self) -> bool:
        return self.commit is not None

    @property
    def canonical_url(self) -> str:
        return canonical_channel_url(self.url)

    def to_dict(self) -> dict:
        return {"name": self.name, "url": self.url, "branch": self.branch, "commit": self.commit,
                "introduction": self.introduction.to_dict() if self.introduction else None}


GUIX_INTRODUCTION = Introduction("9edb3f66fd807b096b48283debdcddccfea34bad",
                                 "BBB0 2DDF 2CEA F6A8 0D1D  E643 A2A0 6DF2 A33A 54FA")
DEFAULT_GUIX_CHANNEL = Channel("guix", GUIX_URL, "master", None, GUIX_INTRODUCTION)


def canonical_channel_url(url: str) -> str:
    """A URL to compare channels by: the guix channel's homes (Savannah, Codeberg,
    git.guix.gnu.org, with or without ``.git``) all map to ``GUIX_URL``; other URLs get a
    lower-case scheme and host and lose a trailing ``/``."""
    u = url.strip()
    m = re.fullmatch(r"([A-Za-z][A-Za-z0-9+.-]*)://([^/]*)(.*)", u)
    if not m:
        return u.rstrip("/")
    scheme, host, path = m.group(1).lower(), m.group(2).lower(), m.group(3).rstrip("/")
    key = host + (path[:-4] if path.endswith(".git") else path)
    if key in _GUIX_URL_KEYS:
        return GUIX_URL
    return f"{scheme}://{host}{path}"


_FULL_COMMIT = re.compile(r"[0-9a-fA-F]{40}")
_CHANNEL_FORMS = ("(list (channel …)), %default-channels, or cons/cons*/append of channels "
                  "and %default-channels")


def parse_channels(text: str, filename: str = "<string>") -> list[Channel]:
    """The channels a channels file evaluates to.

    Reads the file's last form (earlier ``use-modules`` and ``define`` forms are allowed and
    ``define``d names are followed): ``(list (channel …) …)``, ``%default-channels`` (the guix
    channel: ``DEFAULT_GUIX_CHANNEL``), ``(cons (channel …) %default-channels)``, ``cons*``,
    ``append``, a quasiquoted list with ``,(channel …)`` and ``,@%default-channels``, ``let``;
    a channel may ``(inherit %default-guix-channel)`` or another defined channel.
    Anything else raises SchemeError naming the file, line and column.
    """
    forms, starts = reader.read_cached(text, filename)
    if not forms:
        raise SchemeError(f"{filename}: no channel list found (the file is empty)",
                          "write the output of `guix describe -f channels` into it")
    env = walker.definitions(forms)
    return _ChannelReader(filename, starts[-1])(forms[-1], env)


class _ChannelReader:
    def __init__(self, filename: str, fallback: tuple[int, int]):
        self.filename = filename
        self.fallback = fallback

    def fail(self, datum, message: str) -> SchemeError:
        return SchemeError(f"{walker.where(self.filename, datum, self.fallback)}: {message}",
                           f"a channels file ends with {_CHANNEL_FORMS}; "
                           "`guix describe -f channels` prints one")

    def __call__(self, expr, env, seen=frozenset()) -> list[Channel]:
        return self.channels(expr, env, seen)

    def channels(self, expr, env, seen) -> list[Channel]:
        if isinstance(expr, Symbol):
            name = str(expr)
            if name in env and name not in seen:
                return self.channels(env[name], env, seen | {name})
            if name == "%default-channels":
                return [DEFAULT_GUIX_CHANNEL]
            raise self.fail(expr, f"not a channel list: unknown variable {name}")
        h = head(expr)
        args = expr[1:] if h else []
        if h == "list":
            return [self.channel(a, env, seen) for a in args]
        if h == "cons" and len(args) == 2:
            return [self.channel(args[0], env, seen)] + self.channels(args[1], env, seen)
        if h == "cons*" and args:
            return ([self.channel(a, env, seen) for a in args[:-1]]
                    + self.channels(args[-1], env, seen))
        if h == "append":
            return [c for a in args for c in self.channels(a, env, seen)]
        if h == "quasiquote" and len(args) == 1 and isinstance(args[0], list):
            out = []
            for item in args[0]:
                if head(item) == "unquote" and len(item) == 2:
                    out.append(self.channel(item[1], env, seen))
                elif head(item) == "unquote-splicing" and len(item) == 2:
                    out.extend(self.channels(item[1], env, seen))
                else:
                    raise self.fail(item if isinstance(item, list) else expr,
                                    f"not a channel: {walker.short(item)}")
            return out
        if h in walker.LETS:
            inner_env, body = walker.let_scope(expr, env)
            if body is not None:
                return self.channels(body, inner_env, seen)
        if h == "begin" and args:
            return self.channels(args[-1], env, seen)
        if h == "map" and len(args) == 2 and head(args[0]) == "lambda" and len(args[0]) == 3 \
                and isinstance(args[0][1], list) and len(args[0][1]) == 1:
            # (map (lambda (c) (if (eq? (channel-name c) 'guix) (channel (inherit c) …) c))
            #      %default-channels): pin one channel of a list.
            param, body = str(args[0][1][0]), args[0][2]
            return [self.channel(self._choose(body, param, c), {**env, param: c}, seen)
                    for c in self.channels(args[1], env, seen)]
        if h == "channel":
            raise self.fail(expr, "a single channel, not a list of channels: wrap it in (list …)")
        raise self.fail(expr, f"not a channel list: {walker.short(expr)}")

    def _choose(self, body, param: str, c: Channel):
        """The branch of ``(if (eq? (channel-name PARAM) 'NAME) A B)`` taken for ``c``."""
        if head(body) == "if" and len(body) == 4:
            test = body[1]
            if head(test) in ("eq?", "eqv?", "equal?") and len(test) == 3 \
                    and head(test[1]) == "channel-name" and test[1][1:] == [Symbol(param)] \
                    and head(test[2]) == "quote" and len(test[2]) == 2:
                return body[2] if str(test[2][1]) == c.name else body[3]
            raise self.fail(body, f"cannot tell which channel this gives: {walker.short(test)}")
        return body

    def channel(self, expr, env, seen) -> Channel:
        if isinstance(expr, Symbol) and isinstance(env.get(str(expr)), Channel):
            return env[str(expr)]
        if isinstance(expr, Symbol):
            name = str(expr)
            if name in env and name not in seen:
                return self.channel(env[name], env, seen | {name})
            if name == "%default-guix-channel":
                return DEFAULT_GUIX_CHANNEL
            raise self.fail(expr, f"not a channel: unknown variable {name}")
        if head(expr) in ("car", "first") and len(expr) == 2:
            # (car %default-channels): the manual's idiom for the guix channel.
            found = self.channels(expr[1], env, seen)
            if found:
                return found[0]
            raise self.fail(expr, "(car …) of an empty channel list")
        if head(expr) == "channel-with-substitutes-available" and len(expr) >= 2:
            # (guix ci): the channel at the newest commit with substitutes, chosen when guix
            # runs; the file itself pins nothing.
            base = self.channel(expr[1], env, seen)
            return Channel(base.name, base.url, base.branch, None, base.introduction)
        if head(expr) != "channel":
            raise self.fail(expr, f"not a channel: {walker.short(expr)}")
        values: dict = {}
        for f in expr[1:]:
            if not (head(f) and len(f) == 2):
                raise self.fail(f if isinstance(f, list) else expr,
                                f"malformed channel field: {walker.short(f)}")
            key, value = str(f[0]), f[1]
            if key == "inherit":
                base = self.channel(value, env, seen)
                values = {"name": base.name, "url": base.url, "branch": base.branch,
                          "commit": base.commit, "introduction": base.introduction, **values}
            elif key == "name":
                values["name"] = self.name(value, f)
            elif key in ("url", "branch"):
                values[key] = self.text(value, f, key)
            elif key == "commit":
                values[key] = self.commit(value, f)
            elif key == "introduction":
                values["introduction"] = self.introduction(value, env, seen, f)
        for required in ("name", "url"):
            if not values.get(required):
                raise self.fail(expr, f"channel without {required}")
        return Channel(values["name"], values["url"], values.get("branch"),
                       values.get("commit"), values.get("introduction"))

    def name(self, value, where) -> str:
        if head(value) == "quote" and len(value) == 2 and isinstance(value[1], Symbol):
            return str(value[1])
        if isinstance(value, str):  # a string, or a bare symbol written without its quote
            return str(value)
        raise self.fail(where, f"channel name must be a symbol like 'guix, not {walker.short(value)}")

    def commit(self, value, where) -> str | None:
        """A pinned commit: 40 hex digits. Guix itself also takes an abbreviated commit
        (guix/channels.scm passes it as ``(commit . STR)``; guix/git.scm looks a shorter
        string up with ``object-lookup-prefix``), but a prefix that is unique today can become
        ambiguous as the channel grows, and non-hex text is no commit at all: vmfleet records
        only full commit ids."""
        text = self.text(value, where, "commit")
        if text is not None and not _FULL_COMMIT.fullmatch(text):
            raise SchemeError(
                f"{walker.where(self.filename, where, self.fallback)}: channel commit {text!r} is "
                f"not a full commit id ({len(text)} characters; 40 hex digits expected)",
                "write the full commit: 'git rev-parse PREFIX' in a checkout, or "
                "'guix describe -f channels' prints it")
        return text.lower() if text else text

    def text(self, value, where, key) -> str | None:
        if value is False:
            return None
        if walker.is_string(value):
            return value
        raise self.fail(where, f"channel {key} must be a string, not {walker.short(value)}")

    def introduction(self, value, env, seen, where) -> Introduction | None:
        if value is False:
            return None
        if isinstance(value, Symbol) and str(value) in env and str(value) not in seen:
            return self.introduction(env[str(value)], env, seen | {str(value)}, where)
        if head(value) == "make-channel-introduction" and len(value) == 3:
            commit, fpr = value[1], value[2]
            if head(fpr) == "openpgp-fingerprint" and len(fpr) == 2:
                fpr = fpr[1]
            if walker.is_string(commit) and walker.is_string(fpr):
                return Introduction(commit, fpr)
        raise self.fail(where, "channel introduction must be (make-channel-introduction "
                        "\"COMMIT\" (openpgp-fingerprint \"…\"))")
