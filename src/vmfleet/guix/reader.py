r"""Reading Guix's Scheme files: Guile's reader, over sexpdata.

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
   decodes strings (``\n``, ``\t``, ``\xHH``, ``\x41;``, ``\uHHHH``, line continuations),
   reads ``#`` syntax (``#t``/``#f``/``#true``/``#false``, ``#\a``, ``#:kw``, ``#x1F``,
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
- ``#\a`` -> ``Char``, ``#:kw`` -> ``Keyword``, ``#(…)`` -> ``Vector`` (a tuple),
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
from dataclasses import dataclass
from fractions import Fraction

import sexpdata
from sexpdata import Symbol

from vmfleet.errors import SchemeError

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
_CHAR_CANONICAL: dict[str, str] = {}
for _n, _c in _CHAR_NAMES.items():
    _CHAR_CANONICAL.setdefault(_c, _n)


def _end(m: re.Match | None) -> int:
    """Where a match that cannot fail here ends (its first character was checked already)."""
    assert m is not None
    return m.end()


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
                i = _end(_WS.match(text, i))
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
                j = _end(_ATOM.match(text, i))
                self.atom(i, text=text[i:j])
                i = j
        if self.opens:
            offset, opener = self.opens[-1]
            raise self.error(offset, f"unclosed '{opener}': the file ends before its "
                             f"'{_CLOSER[opener]}' (missing closing parenthesis)",
                             f"add the missing '{_CLOSER[opener]}'")
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
        if nxt == "<":  # how Guile *prints* an object it cannot read back: a reader error
            raise self.error(i, "unreadable object `#<…>` (Guile prints objects it cannot "
                             "read back this way)", "write the expression that makes the value")
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
                return _end(m)
            if word in ("eof", "default", "unspecified"):
                self.atom(i, Opaque("#!" + word))
                return _end(m)
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
_NUMBER_STARTS = frozenset("+-.0123456789")  # every number above and below starts so
_SPECIAL_FLOATS = {"+inf.0": math.inf, "-inf.0": -math.inf, "+nan.0": math.nan,
                   "-nan.0": math.nan}


def _number(token: str):
    """Scheme's number syntax (decimal only), or None if ``token`` is not a number."""
    if not token or token[0] not in _NUMBER_STARTS:  # most tokens are symbols: skip the regexes
        return None
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
        return Tagged(x.tag or "", tuple(inner)), i + 2
    if isinstance(x, list):
        return _fold_list(x, linecol), i + 1
    return x, i + 1


def _form(items: list, linecol, offset: int | None) -> Form:
    form = Form(items)
    if offset is not None:
        form.line, form.col = linecol(offset)
    return form


_CACHE: dict[str, tuple[list, list[tuple[int, int]]]] = {}
_CACHE_ENTRIES = 512
_CACHE_MAX_TEXT = 1 << 20


def read_cached(text: str, filename: str) -> tuple[list, list[tuple[int, int]]]:
    """Forms and the (line, col) where each top-level form starts.

    Results are cached by text (the file name only appears in errors, which are not cached):
    an import reads the same config, modules and channels file at many commits, and the
    summary reads the text the closure just read. Callers never modify the forms."""
    if isinstance(text, str) and len(text) <= _CACHE_MAX_TEXT:
        hit = _CACHE.get(text)
        if hit is not None:
            return hit
        result = _read_uncached(text, filename)
        if len(_CACHE) >= _CACHE_ENTRIES:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[text] = result
        return result
    return _read_uncached(text, filename)


def _read_uncached(text: str, filename: str) -> tuple[list, list[tuple[int, int]]]:
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

    Raises SchemeError("FILE:LINE:COL: message", hint) on malformed input. The forms are the
    caller's own (not shared with vmfleet's cache), so the caller may change them.
    """
    return _read_uncached(text, filename)[0]


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
    hit = _SYMBOL_TEXT.get(text)
    if hit is None:
        hit = _render_symbol_text(text)
        if len(_SYMBOL_TEXT) >= 4096:
            _SYMBOL_TEXT.clear()
        _SYMBOL_TEXT[text] = hit
    return hit


_SYMBOL_TEXT: dict[str, str] = {}  # configs repeat the same symbols: render each once


def _render_symbol_text(text: str) -> str:
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
