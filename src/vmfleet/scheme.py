"""Reading Guix's Scheme files: channel lists and ``operating-system`` declarations.

vmfleet never evaluates Scheme; it reads the files the way Guile's reader would and then
recognises the handful of shapes people write (``guix describe -f channels`` output, the
``operating-system`` forms of Guix's own templates and what users derive from them).

How reading works
-----------------
sexpdata 1.0.2 reads plain s-expressions but not Guile: quasiquote/unquote and ``#(…)`` raise
AssertionError, ``#;`` datum comments raise, ``#| |#`` comes back as symbols, and its errors
carry no line numbers. So ``read_forms`` runs in two steps:

1. A pre-pass (``_Prepass``) scans the text once, keeping track of offsets, and does everything
   that needs Guile's lexical rules: it drops ``;``, ``#| |#`` (nested) and ``#! !#`` comments,
   decodes strings (``\\n``, ``\\t``, ``\\xHH``, ``\\x41;``, ``\\uHHHH``, line continuations),
   reads ``#`` syntax (``#t``/``#f``/``#true``/``#false``, ``#\\a``, ``#:kw``, ``#x1F``,
   ``#{sym}#``, ``#(…)``, ``#vu8(…)``) and checks that the parentheses balance and that every
   prefix (``'``, `````, ``,``, ``,@``, ``#~``, ``#$``, ``#$@``, ``#+``, ``#'`` …) and ``#;`` is
   followed by a datum. Malformed input stops here with ``SchemeError("FILE:LINE:COL: …")``
   (line and column 1-based, the column counted in characters). It writes a normalised text
   that sexpdata reads without surprises: plain atoms and strings stay as text, everything
   else (a ``#`` object, a prefix, a ``#;``, each list's start position) becomes a private
   placeholder atom pointing into a side table.
2. sexpdata parses that text (``_GuileParser`` overrides its atom rule with Scheme's number
   syntax), and a fold over the result replaces the placeholders: a prefix wraps the datum that
   follows it, ``#;`` drops it, lists become ``Form`` objects that know where they started.

Representation (what ``read_forms`` returns)
--------------------------------------------
- list ``(a b)`` / ``[a b]`` -> ``Form`` (a ``list`` subclass with ``.line``/``.col``); a dotted
  pair keeps its dot as the symbol ``.``: ``(a . b)`` -> ``[a, ., b]``;
- symbol -> ``sexpdata.Symbol`` (a ``str`` subclass: test for ``Symbol`` before ``str``);
- string -> plain ``str`` with escapes decoded;
- ``#t``/``#true`` -> ``True``, ``#f``/``#false`` -> ``False``; integers -> ``int``, decimals
  -> ``float``, ``1/3`` -> ``fractions.Fraction``;
- ``'x`` `````x`` ``,x`` ``,@x`` -> ``(quote x)`` ``(quasiquote x)`` ``(unquote x)``
  ``(unquote-splicing x)``, as Guile's reader gives them; the same for Guix's gexp syntax
  (``#~`` gexp, ``#$`` ungexp, ``#$@`` ungexp-splicing, ``#+`` ungexp-native, ``#+@``
  ungexp-native-splicing) and syntax objects (``#'`` ``#``` ``#,`` ``#,@``);
- ``#\\a`` -> ``Char``, ``#:kw`` -> ``Keyword``, ``#(…)`` -> ``Vector`` (a tuple),
  ``#vu8(…)``/``#u8(…)``/``#2(…)`` -> ``Tagged``;
- anything else starting with ``#`` (``#nil``, ``#*101``, ``#e1.5``, ``#<…``) -> ``Opaque``
  holding the text as written: kept, never a crash.

``render(datum)`` writes any of these back as canonical one-line text (single spaces, prefixes
abbreviated, strings re-escaped); reading that text gives the same datum back.

Channels and operating-system summaries are pattern readers over that data, described at
``parse_channels`` and ``summarize_os``. Limits: nothing is evaluated, so a value computed by
a procedure (``(string-append …)``, a ``map`` over user code, a macro) is reported as its
canonical text rather than its value; lists nest at most ``MAX_DEPTH`` levels.
"""

from __future__ import annotations

import bisect
import math
import re
from dataclasses import dataclass, field
from fractions import Fraction

import sexpdata
from sexpdata import Symbol

from .errors import SchemeError

__all__ = [
    "MAX_DEPTH", "GUIX_URL", "GUIX_INTRODUCTION", "DEFAULT_GUIX_CHANNEL",
    "Form", "Char", "Keyword", "Vector", "Tagged", "Opaque",
    "Introduction", "Channel", "ServiceSummary", "OsSummary",
    "read_forms", "render", "parse_channels", "canonical_channel_url",
    "summarize_os", "local_files", "head", "Symbol",
]

MAX_DEPTH = 200  # nesting levels (lists + pending prefixes); far beyond any real config

# --- data types -------------------------------------------------------------------------------


class Form(list):
    """A parenthesised list as read, with the 1-based line and column of its opening paren."""

    line: int | None = None
    col: int | None = None


@dataclass(frozen=True)
class Char:
    """A character literal. ``name`` is its canonical text after ``#\\`` (``a``, ``space``,
    ``newline``); ``value`` the character, or None for a name the reader does not know."""

    name: str
    value: str | None


@dataclass(frozen=True)
class Keyword:
    """A keyword ``#:name``."""

    name: str


class Vector(tuple):
    """A vector literal ``#(…)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Vector({list(self)!r})"


@dataclass(frozen=True)
class Tagged:
    """A tagged literal such as a bytevector ``#vu8(1 2)`` or an array ``#2((1 2) (3 4))``."""

    tag: str
    items: tuple


@dataclass(frozen=True)
class Opaque:
    """``#`` syntax the reader keeps as written without interpreting it (``#nil``, ``#*101``)."""

    text: str


# Markers the pre-pass leaves in the side table; the fold removes them all.
@dataclass(frozen=True)
class _Prefix:
    symbol: str
    offset: int


@dataclass(frozen=True)
class _DatumComment:
    pass


@dataclass(frozen=True)
class _Open:
    offset: int
    tag: str | None  # None: an ordinary list; '' a vector; else a tagged literal


_SKIP = object()

# --- the pre-pass -----------------------------------------------------------------------------

_WS = re.compile(r"\s+")
_ATOM = re.compile(r"[^\s()\[\]\";]+")
_TAGGED_OPEN = re.compile(r"(?:\d+)?(?:vu8|[usfc](?:8|16|32|64))?")
_HEX_R7RS = re.compile(r"([0-9a-fA-F]+);")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_HEX4 = re.compile(r"[0-9a-fA-F]{4}")
_HEX6 = re.compile(r"[0-9a-fA-F]{6}")
_RADIX = re.compile(r"#([xXbBoOdD])([+-]?[0-9a-fA-F]+)")
_RADIX_BASE = {"x": 16, "b": 2, "o": 8, "d": 10}
_DIRECTIVES = {"fold-case", "no-fold-case", "r6rs", "curly-infix",
               "curly-infix-and-bracket-lists", "r7rs"}
_HASH_PREFIXES = [  # longest first
    ("#$@", "ungexp-splicing"), ("#+@", "ungexp-native-splicing"), ("#,@", "unsyntax-splicing"),
    ("#~", "gexp"), ("#$", "ungexp"), ("#+", "ungexp-native"), ("#'", "syntax"),
    ("#`", "quasisyntax"), ("#,", "unsyntax"),
]
_PLAIN_PREFIXES = {"'": "quote", "`": "quasiquote", ",": "unquote"}
_CLOSER = {"(": ")", "[": "]"}
_MARKER_NAMES = {"#;": "datum comment", ",@": "unquote-splicing",
                 **_PLAIN_PREFIXES, **dict(_HASH_PREFIXES)}
_STRING_ESCAPES = {"\\": "\\", '"': '"', "a": "\a", "b": "\b", "f": "\f", "n": "\n",
                   "r": "\r", "t": "\t", "v": "\v", "0": "\0"}
_CHAR_NAMES = {  # name -> character; canonical names first (Guile's writer uses them)
    "nul": "\0", "alarm": "\a", "backspace": "\b", "tab": "\t", "newline": "\n",
    "vtab": "\v", "page": "\f", "return": "\r", "esc": "\x1b", "space": " ", "delete": "\x7f",
    "null": "\0", "linefeed": "\n", "escape": "\x1b", "rubout": "\x7f", "sp": " ", "nl": "\n",
}
_CHAR_CANONICAL = {}
for _n, _c in _CHAR_NAMES.items():
    _CHAR_CANONICAL.setdefault(_c, _n)


def _char(name: str) -> Char:
    """Build a Char from the text after ``#\\`` as written."""
    if len(name) == 1:
        return _char_of(name)
    low = name.lower()
    if low in _CHAR_NAMES:
        return _char_of(_CHAR_NAMES[low])
    code = None
    if low[0] == "x" and re.fullmatch(r"[0-9a-f]+", low[1:]):
        code = int(low[1:], 16)
    elif low[0] == "u" and re.fullmatch(r"\+[0-9a-f]+", low[1:]):
        code = int(low[2:], 16)
    elif re.fullmatch(r"[0-7]+", low):
        code = int(low, 8)
    if code is not None and code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
        return _char_of(chr(code))
    return Char(name, None)


def _char_of(c: str) -> Char:
    if c in _CHAR_CANONICAL:
        return Char(_CHAR_CANONICAL[c], c)
    if not c.isprintable() or c.isspace():
        return Char(f"x{ord(c):x}", c)
    return Char(c, c)


class _Prepass:
    """One scan over the text: validates structure and writes sexpdata-safe text."""

    def __init__(self, text: str, filename: str):
        self.text = text
        self.filename = filename
        self.out: list[str] = []
        self.objs: list = []
        self.sentinel = _pick_sentinel(text)
        self.opens: list[tuple[int, str]] = []          # (offset, opener) of open lists
        self.pending: list[list[tuple[int, str]]] = [[]]  # per level: (offset, what) markers
        self.npending = 0
        self.top_starts: list[int] = []
        self._line_starts: list[int] | None = None

    # positions and errors
    def linecol(self, offset: int) -> tuple[int, int]:
        if self._line_starts is None:
            self._line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]
        line = bisect.bisect_right(self._line_starts, offset)
        return line, offset - self._line_starts[line - 1] + 1

    def error(self, offset: int, message: str, hint: str) -> SchemeError:
        line, col = self.linecol(offset)
        return SchemeError(f"{self.filename}:{line}:{col}: {message}", hint)

    # output helpers
    def emit_obj(self, obj) -> None:
        self.objs.append(obj)
        self.out.append(f" {self.sentinel}{len(self.objs) - 1} ")

    def start_datum(self, offset: int, is_comment: bool = False) -> None:
        if not self.opens and not self.pending[0] and not is_comment:
            self.top_starts.append(offset)

    def complete(self) -> None:
        """A datum just ended: it satisfies the innermost pending prefix or ``#;``."""
        level = self.pending[-1]
        while level:
            _, what = level.pop()
            self.npending -= 1
            if what == "#;":
                return

    def check_depth(self, offset: int) -> None:
        if len(self.opens) + self.npending > MAX_DEPTH:
            raise self.error(offset, f"nesting deeper than {MAX_DEPTH} levels",
                             "vmfleet reads at most this many nested lists; simplify the form")

    def push_marker(self, offset: int, what: str, obj) -> None:
        self.start_datum(offset, is_comment=(what == "#;"))
        self.pending[-1].append((offset, what))
        self.npending += 1
        self.check_depth(offset)
        self.emit_obj(obj)

    def open(self, offset: int, opener: str, tag: str | None) -> None:
        self.start_datum(offset)
        self.opens.append((offset, opener))
        self.pending.append([])
        self.check_depth(offset)
        if tag is not None:
            self.emit_obj(_Open(offset, tag))
        self.out.append("(")
        self.emit_obj(_Open(offset, None))

    def close(self, offset: int, closer: str) -> None:
        if self.pending[-1]:
            self.dangling(self.pending[-1][-1])
        if not self.opens:
            raise self.error(offset, f"unexpected '{closer}': no list is open",
                             f"remove the extra '{closer}' or add the missing '(' before it")
        start, opener = self.opens.pop()
        if _CLOSER[opener] != closer:
            line, col = self.linecol(start)
            raise self.error(offset, f"'{closer}' closes the '{opener}' opened at {line}:{col}",
                             f"close it with '{_CLOSER[opener]}'")
        self.pending.pop()
        self.out.append(")")
        self.complete()

    def dangling(self, marker: tuple[int, str]) -> None:
        offset, what = marker
        noun = _MARKER_NAMES.get(what, "prefix")
        raise self.error(offset, f"{noun} `{what}` is not followed by a datum",
                         f"put an expression after `{what}` or remove it")

    def atom(self, offset: int, obj=None, text: str | None = None) -> None:
        self.start_datum(offset)
        if text is not None:
            self.out.append(" " + text.replace("\\", "\\\\") + " ")
        else:
            self.emit_obj(obj)
        self.complete()

    # the scan
    def run(self) -> tuple[str, list, list[int]]:
        text, n, i = self.text, len(self.text), 0
        while i < n:
            c = text[i]
            if c.isspace():
                i = _WS.match(text, i).end()
            elif c == ";":
                j = text.find("\n", i)
                i = n if j < 0 else j + 1
            elif c in "([":
                self.open(i, c, None)
                i += 1
            elif c in ")]":
                self.close(i, c)
                i += 1
            elif c == '"':
                i = self.string(i)
            elif c in _PLAIN_PREFIXES:
                if c == "," and text.startswith(",@", i):
                    self.push_marker(i, ",@", _Prefix("unquote-splicing", i))
                    i += 2
                else:
                    self.push_marker(i, c, _Prefix(_PLAIN_PREFIXES[c], i))
                    i += 1
            elif c == "#":
                i = self.hash(i)
            else:
                j = _ATOM.match(text, i).end()
                self.atom(i, text=text[i:j])
                i = j
        if self.opens:
            offset, opener = self.opens[-1]
            raise self.error(offset, f"unclosed '{opener}': the file ends before its "
                             f"'{_CLOSER[opener]}'", f"add the missing '{_CLOSER[opener]}'")
        if self.pending[0]:
            self.dangling(self.pending[0][-1])
        return "".join(self.out), self.objs, self.top_starts

    def string(self, start: int) -> int:
        text, n = self.text, len(self.text)
        chars: list[str] = []
        i = start + 1
        while True:
            j = i
            while j < n and text[j] not in '"\\':
                j += 1
            chars.append(text[i:j])
            if j >= n:
                raise self.error(start, "unterminated string", "add the closing '\"'")
            if text[j] == '"':
                i = j + 1
                break
            i = self.escape(j, chars)
            if i >= n:
                raise self.error(start, "unterminated string", "add the closing '\"'")
        value = "".join(chars)
        self.start_datum(start)
        self.out.append(' "' + value.replace("\\", "\\\\").replace('"', '\\"') + '" ')
        self.complete()
        return i

    def escape(self, j: int, chars: list[str]) -> int:
        """Decode the escape at ``text[j] == '\\'``; return the offset after it."""
        text, n = self.text, len(self.text)
        if j + 1 >= n:
            return n
        e = text[j + 1]
        if e in _STRING_ESCAPES:
            chars.append(_STRING_ESCAPES[e])
            return j + 2
        if e == "\n":  # line continuation: skip the newline and the next line's indentation
            k = j + 2
            while k < n and text[k] in " \t":
                k += 1
            return k
        if e in "xuU":
            if e == "x":
                m = _HEX_R7RS.match(text, j + 2) or _HEX2.match(text, j + 2)
            else:
                m = (_HEX4 if e == "u" else _HEX6).match(text, j + 2)
            if m:
                digits = m.group(1) if m.groups() else m.group(0)
                code = int(digits[:8], 16) if len(digits) <= 8 else None
                if code is not None and code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
                    chars.append(chr(code))
                    return m.end()
        chars.append("\\" + e)  # unknown escape: kept as written
        return j + 2

    def hash(self, i: int) -> int:
        """Read the ``#`` syntax at ``i``; return the offset after it."""
        text, n = self.text, len(self.text)
        nxt = text[i + 1] if i + 1 < n else ""
        if nxt == "|":
            return self.block_comment(i, "#|", "|#", nested=True)
        if nxt == ";":
            self.push_marker(i, "#;", _DatumComment())
            return i + 2
        if nxt == "(":
            self.open(i, "(", "")
            return i + 2
        if nxt == "\\":
            if i + 2 >= n:
                raise self.error(i, "end of file after '#\\'", "complete the character literal")
            j = i + 3
            if j < n and _ATOM.match(text, i + 2):  # a delimiter (`#\(`, `#\ `) stands alone
                m = _ATOM.match(text, j)
                if m:
                    j = m.end()
            self.atom(i, _char(text[i + 2:j]))
            return j
        if nxt == ":":
            m = _ATOM.match(text, i + 2)
            j = m.end() if m else i + 2
            self.atom(i, Keyword(text[i + 2:j]))
            return j
        if nxt == "{":
            end = text.find("}#", i + 2)
            if end < 0:
                raise self.error(i, "unterminated '#{' symbol", "close it with '}#'")
            self.atom(i, Symbol(_SYMBOL_ESCAPE.sub(_unescape_symbol, text[i + 2:end])))
            return end + 2
        if nxt == "!":
            m = _ATOM.match(text, i + 2)
            word = m.group(0) if m else ""
            if word in _DIRECTIVES:
                return m.end()
            if word in ("eof", "default", "unspecified"):
                self.atom(i, Opaque("#!" + word))
                return m.end()
            return self.block_comment(i, "#!", "!#", nested=False)
        for prefix, symbol in _HASH_PREFIXES:
            if text.startswith(prefix, i):
                self.push_marker(i, prefix, _Prefix(symbol, i))
                return i + len(prefix)
        m = _ATOM.match(text, i + 1)
        j = m.end() if m else i + 1
        word = text[i + 1:j]
        if j < n and text[j] == "(" and word and _TAGGED_OPEN.fullmatch(word):
            self.open(i, "(", word)
            return j + 1
        self.atom(i, _hash_atom(text[i:j]))
        return j

    def block_comment(self, start: int, opener: str, closer: str, nested: bool) -> int:
        text, depth, i = self.text, 1, start + 2
        while depth:
            j = text.find(closer, i)
            if j < 0:
                raise self.error(start, f"unterminated block comment '{opener}'",
                                 f"close it with '{closer}'")
            if nested:
                k = text.find(opener, i, j)
                if k >= 0:
                    depth += 1
                    i = k + 2
                    continue
            depth -= 1
            i = j + 2
        return i


_SYMBOL_ESCAPE = re.compile(r"\\(x[0-9a-fA-F]{1,6};|.)", re.S)


def _unescape_symbol(m: re.Match) -> str:
    """``\\x41;`` and ``\\c`` inside ``#{…}#``."""
    e = m.group(1)
    if len(e) > 1:
        code = int(e[1:-1], 16)
        if code <= 0x10FFFF and not 0xD800 <= code <= 0xDFFF:
            return chr(code)
        return m.group(0)
    return e


def _hash_atom(token: str):
    low = token.lower()
    if low in ("#t", "#true"):
        return True
    if low in ("#f", "#false"):
        return False
    m = _RADIX.fullmatch(token)
    if m:
        try:
            return int(m.group(2), _RADIX_BASE[m.group(1).lower()])
        except ValueError:
            pass
    return Opaque(token)


def _pick_sentinel(text: str) -> str:
    for code in range(0xE000, 0xF900):
        if chr(code) not in text:
            return chr(code)
    for code in range(0xF0000, 0xFFFFE):  # pragma: no cover - a text using all of the BMP PUA
        if chr(code) not in text:
            return chr(code)
    raise SchemeError("text uses every private-use character", "this is not a config file")


# --- sexpdata and the fold ----------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+")
_DEC = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_RAT = re.compile(r"([+-]?[0-9]+)/([0-9]+)")
_SPECIAL_FLOATS = {"+inf.0": math.inf, "-inf.0": -math.inf, "+nan.0": math.nan,
                   "-nan.0": math.nan}


def _number(token: str):
    """Scheme's number syntax (decimal only), or None if ``token`` is not a number."""
    try:
        if _INT.fullmatch(token):
            return int(token)
        if _DEC.fullmatch(token):
            return float(token)
        m = _RAT.fullmatch(token)
        if m and int(m.group(2)) != 0:
            return Fraction(int(m.group(1)), int(m.group(2)))
    except ValueError:  # more digits than Python converts
        return Opaque(token)
    return _SPECIAL_FLOATS.get(token.lower())


class _GuileParser(sexpdata.Parser):
    """sexpdata's parser with Scheme's atoms and the pre-pass's placeholders."""

    def __init__(self, string: str, objs: list, sentinel: str):
        super().__init__(string, nil=None, true=None, false=None, line_comment=";")
        self.objs = objs
        self.sentinel = sentinel

    def atom(self, token):
        if token.startswith(self.sentinel):
            return self.objs[int(token[1:])]
        number = _number(token)
        return Symbol(token) if number is None else number


def _fold_list(raw: list, linecol) -> Form:
    opening = raw[0]
    form = Form()
    form.line, form.col = linecol(opening.offset)
    i = 1
    while i < len(raw):
        datum, i = _take(raw, i, linecol)
        if datum is not _SKIP:
            form.append(datum)
    return form


def _take(raw: list, i: int, linecol):
    """The datum starting at ``raw[i]`` and the index after it (_SKIP for a ``#;``)."""
    x = raw[i]
    if isinstance(x, (_DatumComment, _Prefix)):
        j, datum = i + 1, _SKIP
        while datum is _SKIP:  # `#; #;a b` skips a and b: a nested #; is not a datum
            datum, j = _take(raw, j, linecol)
        if isinstance(x, _DatumComment):
            return _SKIP, j
        return _form([Symbol(x.symbol), datum], linecol, x.offset), j
    if isinstance(x, _Open):  # a vector or tagged literal: the list follows
        inner = _fold_list(raw[i + 1], linecol)
        if x.tag == "":
            return Vector(inner), i + 2
        return Tagged(x.tag, tuple(inner)), i + 2
    if isinstance(x, list):
        return _fold_list(x, linecol), i + 1
    return x, i + 1


def _form(items: list, linecol, offset: int | None) -> Form:
    form = Form(items)
    if offset is not None:
        form.line, form.col = linecol(offset)
    return form


def _read(text: str, filename: str) -> tuple[list, list[tuple[int, int]]]:
    """Forms and the (line, col) where each top-level form starts."""
    if not isinstance(text, str):
        raise SchemeError(f"{filename}: not text", "pass the file's text as a str")
    pre = _Prepass(text, filename)
    normalised, objs, starts = pre.run()
    try:
        raw = _GuileParser(normalised, objs, pre.sentinel).parse()
        forms = []
        i = 0
        while i < len(raw):
            datum, i = _take(raw, i, pre.linecol)
            if datum is not _SKIP:
                forms.append(datum)
    except RecursionError:
        raise SchemeError(f"{filename}: nesting too deep to read",
                          "simplify the deepest nested form") from None
    except Exception as e:  # pragma: no cover - the pre-pass admits only what sexpdata reads
        raise SchemeError(f"{filename}: cannot read: {e}",
                          "please report this file to the vmfleet developers") from None
    # The pre-pass counted the same top-level datums the fold produced.
    return forms, [pre.linecol(s) for s in starts]


def read_forms(text: str, filename: str = "<string>") -> list:
    """All top-level forms of ``text``, as described in the module docstring.

    Raises SchemeError("FILE:LINE:COL: message", hint) on malformed input.
    """
    return _read(text, filename)[0]


# --- rendering --------------------------------------------------------------------------------

_PREFIX_TEXT = {
    "quote": "'", "quasiquote": "`", "unquote": ",", "unquote-splicing": ",@",
    "gexp": "#~", "ungexp": "#$", "ungexp-splicing": "#$@", "ungexp-native": "#+",
    "ungexp-native-splicing": "#+@", "syntax": "#'", "quasisyntax": "#`", "unsyntax": "#,",
    "unsyntax-splicing": "#,@",
}
_PLAIN_SYMBOL = re.compile(r"[^\s()\[\]\";'`,#][^\s()\[\]\";]*")


def render(datum) -> str:
    """Canonical one-line text of a datum (single spaces, ``'x`` for ``(quote x)``)."""
    if isinstance(datum, Symbol):
        return _render_symbol(datum)
    if isinstance(datum, str):
        return _render_string(datum)
    if isinstance(datum, bool):
        return "#t" if datum else "#f"
    if isinstance(datum, int):
        return str(datum)
    if isinstance(datum, float):
        if math.isnan(datum):
            return "+nan.0"
        if math.isinf(datum):
            return "+inf.0" if datum > 0 else "-inf.0"
        return repr(datum)
    if isinstance(datum, Fraction):
        return f"{datum.numerator}/{datum.denominator}"
    if isinstance(datum, Vector):
        return "#(" + " ".join(render(x) for x in datum) + ")"
    if isinstance(datum, list):
        if (len(datum) == 2 and isinstance(datum[0], Symbol)
                and str(datum[0]) in _PREFIX_TEXT):
            prefix, inner = _PREFIX_TEXT[str(datum[0])], render(datum[1])
            if prefix[-1] in ",$+" and inner.startswith("@"):
                return prefix + " " + inner  # (unquote @x) must not read as ,@x
            return prefix + inner
        return "(" + " ".join(render(x) for x in datum) + ")"
    if isinstance(datum, Char):
        return "#\\" + datum.name
    if isinstance(datum, Keyword):
        return "#:" + datum.name
    if isinstance(datum, Tagged):
        return f"#{datum.tag}(" + " ".join(render(x) for x in datum.items) + ")"
    if isinstance(datum, Opaque):
        return datum.text
    if isinstance(datum, sexpdata.Quoted):  # from sexpdata used directly
        return "'" + render(datum.x)
    if isinstance(datum, tuple):
        return "(" + " ".join(render(x) for x in datum) + ")"
    return str(datum)


def _render_symbol(sym: str) -> str:
    text = str(sym)
    if _PLAIN_SYMBOL.fullmatch(text) and _number(text) is None:
        return text
    return "#{" + "".join(c if c.isprintable() and c not in "\\}" else f"\\x{ord(c):x};"
                          for c in text) + "}#"


def _render_string(s: str) -> str:
    out = []
    for c in s:
        if c == "\\":
            out.append("\\\\")
        elif c == '"':
            out.append('\\"')
        elif c == "\n":
            out.append("\\n")
        elif c == "\t":
            out.append("\\t")
        elif c == "\r":
            out.append("\\r")
        elif not c.isprintable():
            out.append(f"\\x{ord(c):x};")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


# --- helpers over data ------------------------------------------------------------------------


def head(datum) -> str | None:
    """The name of the symbol a form starts with (``(list a b)`` -> ``'list'``), else None."""
    if isinstance(datum, list) and datum and isinstance(datum[0], Symbol):
        return str(datum[0])
    return None


def _is_string(x) -> bool:
    return isinstance(x, str) and not isinstance(x, Symbol)


def _where(filename: str, datum, fallback: tuple[int, int] | None = None) -> str:
    line = getattr(datum, "line", None)
    if line is not None:
        return f"{filename}:{line}:{datum.col}"
    if fallback is not None:
        return f"{filename}:{fallback[0]}:{fallback[1]}"
    return filename


def _short(datum, limit: int = 60) -> str:
    text = render(datum)
    return text if len(text) <= limit else text[: limit - 1] + "…"


_DEFINERS = ("define", "define-public")
_LETS = ("let", "let*", "letrec", "letrec*")


def _definitions(forms, env: dict | None = None) -> dict:
    """``(define NAME VALUE)`` forms among ``forms`` as {name: value} (later ones win)."""
    env = dict(env or {})
    for f in forms:
        if head(f) in _DEFINERS and len(f) == 3 and isinstance(f[1], Symbol):
            env[str(f[1])] = f[2]
    return env


def _let_scope(form, env: dict):
    """The env inside a let-family form and its last body expression (None if malformed)."""
    rest = form[1:]
    if rest and isinstance(rest[0], Symbol):  # named let
        rest = rest[1:]
    if len(rest) < 2 or not isinstance(rest[0], list):
        return env, None
    env = dict(env)
    for binding in rest[0]:
        if isinstance(binding, list) and len(binding) == 2 and isinstance(binding[0], Symbol):
            env[str(binding[0])] = binding[1]
    body = rest[1:]
    env = _definitions(body[:-1], env)
    return env, body[-1]


def _walk(datum):
    """Every datum inside ``datum`` (itself included), depth first, without recursion limits."""
    stack = [datum]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif isinstance(x, Tagged):
            stack.extend(reversed(x.items))


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
    forms, starts = _read(text, filename)
    if not forms:
        raise SchemeError(f"{filename}: no channel list found (the file is empty)",
                          "write the output of `guix describe -f channels` into it")
    env = _definitions(forms)
    return _ChannelReader(filename, starts[-1])(forms[-1], env)


class _ChannelReader:
    def __init__(self, filename: str, fallback: tuple[int, int]):
        self.filename = filename
        self.fallback = fallback

    def fail(self, datum, message: str) -> SchemeError:
        return SchemeError(f"{_where(self.filename, datum, self.fallback)}: {message}",
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
                                    f"not a channel: {_short(item)}")
            return out
        if h in _LETS:
            inner_env, body = _let_scope(expr, env)
            if body is not None:
                return self.channels(body, inner_env, seen)
        if h == "begin" and args:
            return self.channels(args[-1], env, seen)
        if h == "channel":
            raise self.fail(expr, "a single channel, not a list of channels: wrap it in (list …)")
        raise self.fail(expr, f"not a channel list: {_short(expr)}")

    def channel(self, expr, env, seen) -> Channel:
        if isinstance(expr, Symbol):
            name = str(expr)
            if name in env and name not in seen:
                return self.channel(env[name], env, seen | {name})
            if name == "%default-guix-channel":
                return DEFAULT_GUIX_CHANNEL
            raise self.fail(expr, f"not a channel: unknown variable {name}")
        if head(expr) == "channel-with-substitutes-available" and len(expr) >= 2:
            # (guix ci): the channel at the newest commit with substitutes, chosen when guix
            # runs; the file itself pins nothing.
            base = self.channel(expr[1], env, seen)
            return Channel(base.name, base.url, base.branch, None, base.introduction)
        if head(expr) != "channel":
            raise self.fail(expr, f"not a channel: {_short(expr)}")
        values: dict = {}
        for f in expr[1:]:
            if not (head(f) and len(f) == 2):
                raise self.fail(f if isinstance(f, list) else expr,
                                f"malformed channel field: {_short(f)}")
            key, value = str(f[0]), f[1]
            if key == "inherit":
                base = self.channel(value, env, seen)
                values = {"name": base.name, "url": base.url, "branch": base.branch,
                          "commit": base.commit, "introduction": base.introduction, **values}
            elif key == "name":
                values["name"] = self.name(value, f)
            elif key in ("url", "branch", "commit"):
                values[key] = self.text(value, f, key)
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
        raise self.fail(where, f"channel name must be a symbol like 'guix, not {_short(value)}")

    def text(self, value, where, key) -> str | None:
        if value is False:
            return None
        if _is_string(value):
            return value
        raise self.fail(where, f"channel {key} must be a string, not {_short(value)}")

    def introduction(self, value, env, seen, where) -> Introduction | None:
        if value is False:
            return None
        if isinstance(value, Symbol) and str(value) in env and str(value) not in seen:
            return self.introduction(env[str(value)], env, seen | {str(value)}, where)
        if head(value) == "make-channel-introduction" and len(value) == 3:
            commit, fpr = value[1], value[2]
            if head(fpr) == "openpgp-fingerprint" and len(fpr) == 2:
                fpr = fpr[1]
            if _is_string(commit) and _is_string(fpr):
                return Introduction(commit, fpr)
        raise self.fail(where, "channel introduction must be (make-channel-introduction "
                        "\"COMMIT\" (openpgp-fingerprint \"…\"))")


# --- operating-system summaries ---------------------------------------------------------------


@dataclass(frozen=True)
class ServiceSummary:
    """One entry of a system's service list.

    ``type`` is the service type (``openssh-service-type``) or, for a list that comes from
    elsewhere, its name (``%base-services``). ``config`` is the canonical text of the
    configuration argument ('' if none). ``kind`` says where the entry comes from:
    ``service`` (``(service TYPE [CONFIG])``), ``simple-service`` (config is
    ``'NAME VALUE``), ``base`` (a list such as ``%base-services``), ``modified`` and
    ``deleted`` (a ``modify-services`` clause), ``other`` (an expression vmfleet does not
    recognise; config holds its arguments).
    """

    type: str
    config: str = ""
    kind: str = "service"

    def to_dict(self) -> dict:
        return {"type": self.type, "config": self.config, "kind": self.kind}


@dataclass(frozen=True)
class OsSummary:
    """What an ``operating-system`` declaration says, as vmfleet records and diffs it.

    Text fields hold a string literal's value, or the canonical text of the expression when
    the config computes it; None when the field is absent. ``packages``, ``users`` and
    ``services`` keep the order written, with lists from elsewhere (``%base-packages``,
    ``%base-user-accounts``, ``%base-services``) as marker entries. ``fields`` maps every
    field of the declaration to its canonical one-line text.
    """

    host_name: str | None
    timezone: str | None
    locale: str | None
    kernel: str | None
    bootloader: str | None
    users: tuple[str, ...] = ()
    packages: tuple[str, ...] = ()
    services: tuple[ServiceSummary, ...] = ()
    authorized_keys: tuple[tuple[str, str], ...] = ()
    local_files: tuple[str, ...] = ()
    fields: dict[str, str] = field(default_factory=dict, hash=False)

    def to_dict(self) -> dict:
        return {
            "host_name": self.host_name, "timezone": self.timezone, "locale": self.locale,
            "kernel": self.kernel, "bootloader": self.bootloader, "users": list(self.users),
            "packages": list(self.packages),
            "services": [s.to_dict() for s in self.services],
            "authorized_keys": [list(k) for k in self.authorized_keys],
            "local_files": list(self.local_files), "fields": dict(self.fields),
        }


def local_files(text: str, filename: str = "<string>") -> list[str]:
    """Every ``(local-file "PATH" …)`` in the file (first string argument, as written), in
    order of first appearance, without repeats. A computed path is not listed."""
    return _local_files(read_forms(text, filename))


def _local_files(forms) -> list[str]:
    seen: dict[str, None] = {}
    for x in _walk(forms):
        if head(x) == "local-file" and len(x) >= 2 and _is_string(x[1]):
            seen.setdefault(x[1], None)
    return list(seen)


def summarize_os(text: str, filename: str = "<string>") -> OsSummary:
    """Summarise the ``operating-system`` a config file evaluates to.

    The declaration is found as the file's last expression (directly, as a ``define``d name,
    at the end of a ``let`` or ``begin``), else as the last top-level ``define`` of one, else
    as the first ``(operating-system …)`` anywhere. ``(inherit OS)`` of an OS defined in the
    same file merges its fields. Required fields that are missing are None: the caller
    decides. A file without any raises SchemeError("FILE: no operating-system declaration
    found", hint).
    """
    forms = _read(text, filename)[0]
    env = _definitions(forms)
    found = _find_os(forms, env)
    if found is None:
        raise SchemeError(f"{filename}: no operating-system declaration found",
                          "a system config evaluates to (operating-system (host-name …) "
                          "(bootloader …) (file-systems …) (timezone …) …)")
    os_form, env = found
    values = _os_fields(os_form, env, set())
    fields = {k: _render_field(v) for k, v in values.items()}

    def text_of(key):
        if key not in values or not values[key]:
            return None
        v = values[key][0]
        return v if _is_string(v) else render(v)

    return OsSummary(
        host_name=text_of("host-name"),
        timezone=text_of("timezone"),
        locale=text_of("locale"),
        kernel=text_of("kernel"),
        bootloader=_bootloader(values.get("bootloader")),
        users=tuple(_users(values.get("users"), env)),
        packages=tuple(_packages(values.get("packages"), env)),
        services=tuple(_services(values.get("services"), env)),
        authorized_keys=tuple(_authorized_keys(os_form, values.get("services"), env)),
        local_files=tuple(_local_files(forms)),
        fields=fields,
    )


def _render_field(values: list) -> str:
    return " ".join(render(v) for v in values)


def _find_os(forms, env):
    """(operating-system form, env) the file evaluates to, or None."""
    if forms:
        found = _resolve_os(forms[-1], env, set())
        if found:
            return found
    for f in reversed(forms):
        if head(f) in _DEFINERS:
            found = _resolve_os(f, env, set())
            if found:
                return found
    for x in _walk(forms):
        if head(x) == "operating-system":
            return x, env
    return None


def _resolve_os(expr, env, seen):
    h = head(expr)
    if h == "operating-system":
        return expr, env
    if isinstance(expr, Symbol):
        name = str(expr)
        if name in env and name not in seen:
            seen.add(name)
            return _resolve_os(env[name], env, seen)
        return None
    if h in _DEFINERS and len(expr) == 3:
        return _resolve_os(expr[2], env, seen)
    if h in _LETS:
        inner, body = _let_scope(expr, env)
        if body is not None:
            return _resolve_os(body, inner, seen)
    if h == "begin" and len(expr) > 1:
        return _resolve_os(expr[-1], env, seen)
    return None


def _os_fields(os_form, env, seen) -> dict[str, list]:
    """{field name: [value datums]} of an operating-system form, inherited fields merged."""
    values: dict[str, list] = {}
    for f in os_form[1:]:
        name = head(f)
        if name is None:
            continue
        if name == "inherit" and len(f) == 2:
            base = _resolve_os(f[1], env, set())
            if base and id(base[0]) not in seen:
                seen.add(id(base[0]))
                for k, v in _os_fields(base[0], base[1], seen).items():
                    values.setdefault(k, v)
        values[name] = list(f[1:])
    return values


def _bootloader(values) -> str | None:
    if not values:
        return None
    for x in _walk(values[0]):
        if head(x) == "bootloader" and len(x) == 2:
            return render(x[1])
    return render(values[0])


def _elements(expr, env, seen=frozenset()):
    """What a list-valued expression holds, as (kind, datum, env) triples: ``item`` for an
    element, ``rest`` for a list vmfleet cannot open (``%base-packages``), ``modify`` for a
    ``modify-services`` clause. Follows ``define``d names and ``let`` bindings."""
    if isinstance(expr, Symbol):
        name = str(expr)
        if name in env and name not in seen:
            yield from _elements(env[name], env, seen | {name})
        else:
            yield "rest", expr, env
        return
    h = head(expr)
    args = expr[1:] if h else []
    if h == "list":
        for a in args:
            yield "item", a, env
    elif h == "append":
        for a in args:
            yield from _elements(a, env, seen)
    elif h == "cons" and len(args) == 2:
        yield "item", args[0], env
        yield from _elements(args[1], env, seen)
    elif h == "cons*" and args:
        for a in args[:-1]:
            yield "item", a, env
        yield from _elements(args[-1], env, seen)
    elif h == "quote" and len(args) == 1 and isinstance(args[0], list):
        for a in args[0]:
            yield "item", [Symbol("quote"), a], env
    elif h == "quasiquote" and len(args) == 1 and isinstance(args[0], list):
        for a in args[0]:
            if head(a) == "unquote" and len(a) == 2:
                yield "item", a[1], env
            elif head(a) == "unquote-splicing" and len(a) == 2:
                yield from _elements(a[1], env, seen)
            else:
                yield "item", [Symbol("quote"), a], env
    elif h == "modify-services" and args:
        yield from _elements(args[0], env, seen)
        for clause in args[1:]:
            yield "modify", clause, env
    elif h in ("map", "specifications->packages") and args:
        specs = args[-1]
        strings = None
        if head(specs) == "quote" and len(specs) == 2 and isinstance(specs[1], list):
            strings = specs[1]
        elif head(specs) == "list":
            strings = specs[1:]
        proc = args[0] if h == "map" and len(args) == 2 else Symbol("specification->package")
        if strings is not None and all(_is_string(s) for s in strings) and (
                h != "map" or str(proc).startswith("specification->package")):
            for s in strings:
                yield "item", [proc, s], env
        else:
            yield "rest", expr, env
    elif h in _LETS:
        inner, body = _let_scope(expr, env)
        if body is None:
            yield "rest", expr, env
        else:
            yield from _elements(body, inner, seen)
    elif h == "begin" and args:
        yield from _elements(args[-1], env, seen)
    else:
        yield "rest", expr, env


def _unquote(d):
    """The data inside ``(quote d)``; d itself otherwise."""
    if head(d) == "quote" and len(d) == 2:
        return d[1]
    return d


def _package_name(d) -> str:
    h = head(d)
    if h in ("specification->package", "specification->package+output") and len(d) == 2 \
            and _is_string(d[1]):
        return d[1]
    if h == "list" and len(d) == 3 and _is_string(d[2]):  # (list package "output")
        return f"{_package_name(d[1])}:{d[2]}"
    if isinstance(d, Symbol):
        return str(d)
    return render(d)


def _packages(values, env) -> list[str]:
    if not values:
        return []
    return [_package_name(d) if kind == "item" else render(d)
            for kind, d, _ in _elements(values[0], env)]


def _users(values, env) -> list[str]:
    if not values:
        return []
    out = []
    for kind, d, e in _elements(values[0], env):
        if kind == "item" and isinstance(d, Symbol) and str(d) in e:
            d = e[str(d)]
        if kind == "item" and head(d) == "user-account":
            names = [f[1] for f in d[1:] if head(f) == "name" and len(f) == 2]
            out.append(names[-1] if names and _is_string(names[-1]) else render(d))
        else:
            out.append(render(d))
    return out


def _services(values, env) -> list[ServiceSummary]:
    if not values:
        return []
    out = []
    for kind, d, e in _elements(values[0], env):
        if kind == "item":
            out.append(_service(d, e, set()))
        elif kind == "modify":
            out.append(_modification(d))
        else:
            out.append(ServiceSummary(render(d), "", "base" if isinstance(d, Symbol) else "other"))
    return out


def _service(d, env, seen) -> ServiceSummary:
    if isinstance(d, Symbol):
        name = str(d)
        if name in env and name not in seen and head(env[name]) in ("service", "simple-service"):
            seen.add(name)
            return _service(env[name], env, seen)
        return ServiceSummary(name, "", "other")
    h = head(d)
    if h == "service" and len(d) in (2, 3):
        config = ""
        if len(d) == 3:
            c = d[2]
            if isinstance(c, Symbol) and str(c) in env:  # a defined configuration
                c = env[str(c)]
            config = render(c)
        return ServiceSummary(render(d[1]), config, "service")
    if h == "simple-service" and len(d) == 4:
        return ServiceSummary(render(d[2]), f"{render(d[1])} {render(d[3])}", "simple-service")
    if h:
        return ServiceSummary(h, " ".join(render(a) for a in d[1:]), "other")
    return ServiceSummary(render(d), "", "other")


def _modification(clause) -> ServiceSummary:
    if head(clause) == "delete" and len(clause) == 2:
        return ServiceSummary(render(clause[1]), "", "deleted")
    if isinstance(clause, list) and len(clause) >= 4 and clause[2] == Symbol("=>"):
        return ServiceSummary(render(clause[0]), " ".join(render(b) for b in clause[3:]),
                              "modified")
    return ServiceSummary(render(clause), "", "modified")


def _authorized_keys(os_form, services, env) -> list[tuple[str, str]]:
    """(user, key) pairs from openssh's ``authorized-keys`` (and ``simple-service``
    extensions of openssh-service-type): a ``local-file``'s path, else the key text."""
    out: list[tuple[str, str]] = []
    if not services:
        return out
    for value, e in _openssh_key_lists(services[0], env):
        for kind, entry, ee in _elements(value, e):
            if kind == "item":
                out.extend(_key_entry(_unquote(entry), ee))
    return out


def _openssh_key_lists(root, env):
    """Every authorized-keys list in openssh configurations reachable from ``root``, in the
    order written; defined names are followed where they are used."""
    stack, seen_names = [root], set()
    while stack:
        x = stack.pop()
        h = head(x)
        if isinstance(x, Symbol):
            if str(x) in env and str(x) not in seen_names:
                seen_names.add(str(x))
                stack.append(env[str(x)])
        elif h == "openssh-configuration":
            for f in x[1:]:
                if head(f) == "authorized-keys" and len(f) == 2:
                    yield f[1], env
        elif h == "simple-service" and len(x) == 4 and x[2] == Symbol("openssh-service-type"):
            yield x[3], env
        elif isinstance(x, (list, tuple)):
            stack.extend(reversed(x))


def _key_entry(entry, env) -> list[tuple[str, str]]:
    if isinstance(entry, Symbol) and str(entry) in env:
        entry = env[str(entry)]
    h = head(entry)
    if h in ("list", "cons*") and len(entry) >= 2:
        user, keys = entry[1], entry[2:]
    elif h == "cons" and len(entry) == 3:
        user = entry[1]
        keys = [d for kind, d, _ in _elements(entry[2], env) if kind == "item"]
    elif isinstance(entry, list) and entry:
        user, keys = entry[0], entry[1:]
    else:
        return []
    user_text = user if _is_string(user) else render(user)
    return [(user_text, _key_text(k, env)) for k in keys]


def _key_text(k, env, depth: int = 0) -> str:
    if head(k) in ("unquote", "quote") and len(k) == 2:
        return _key_text(k[1], env, depth)
    if head(k) == "local-file" and len(k) >= 2 and _is_string(k[1]):
        return k[1]
    if head(k) == "plain-file" and len(k) == 3 and _is_string(k[2]):
        return k[2]
    if _is_string(k):
        return k
    if isinstance(k, Symbol) and str(k) in env and depth < 20:
        return _key_text(env[str(k)], env, depth + 1)
    return render(k)
