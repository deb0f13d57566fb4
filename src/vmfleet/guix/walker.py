"""Walking what ``guix.reader`` read: the shapes channel files, configs and the closure look for.

Nothing is evaluated: ``definitions`` and ``let_scope`` follow ``define`` and the let family
as written, so a name bound to a literal can be looked up; ``walk`` visits every datum without
recursion limits (a config may nest deeply); ``where`` and ``short`` say where a datum is and
what it looks like, for error messages.
"""

from __future__ import annotations

from sexpdata import Symbol

from vmfleet.guix.reader import Form, Tagged, render


def head(datum) -> str | None:
    """The name of the symbol a form starts with (``(list a b)`` -> ``'list'``), else None."""
    if isinstance(datum, list) and datum and isinstance(datum[0], Symbol):
        return str(datum[0])
    return None


def is_string(x) -> bool:
    return isinstance(x, str) and not isinstance(x, Symbol)


def where(filename: str, datum, fallback: tuple[int, int] | None = None) -> str:
    line = getattr(datum, "line", None)
    if line is not None:
        return f"{filename}:{line}:{datum.col}"
    if fallback is not None:
        return f"{filename}:{fallback[0]}:{fallback[1]}"
    return filename


def short(datum, limit: int = 60) -> str:
    text = render(datum)
    return text if len(text) <= limit else text[: limit - 1] + "…"


DEFINERS = ("define", "define-public")
LETS = ("let", "let*", "letrec", "letrec*")


def definitions(forms, env: dict | None = None) -> dict:
    """``(define NAME VALUE)`` forms among ``forms`` as {name: value} (later ones win)."""
    env = dict(env or {})
    for f in forms:
        if head(f) in DEFINERS and len(f) == 3 and isinstance(f[1], Symbol):
            env[str(f[1])] = f[2]
        elif head(f) in DEFINERS and len(f) >= 3 and isinstance(f[1], list) and f[1] \
                and isinstance(f[1][0], Symbol):  # (define (proc args…) body…)
            env[str(f[1][0])] = Form([Symbol("lambda"), Form(f[1][1:]), *f[2:]])
    return env


def let_scope(form, env: dict):
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
    env = definitions(body[:-1], env)
    return env, body[-1]


def walk(datum):
    """Every datum inside ``datum`` (itself included), depth first, without recursion limits."""
    stack = [datum]
    while stack:
        x = stack.pop()
        yield x
        if isinstance(x, (list, tuple)):
            stack.extend(reversed(x))
        elif isinstance(x, Tagged):
            stack.extend(reversed(x.items))
