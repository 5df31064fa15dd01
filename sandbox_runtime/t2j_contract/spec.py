"""Spec checks: the translation has the names the contract needs, with usable signatures."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from t2j_contract.compare import Mismatch, fail

_WHAT = {"class": "class", "callable": "function"}


def require(module: Any, name: str, *, params: int | Sequence[str] | None = None, kind: str = "callable") -> Any:
    """`module.name` exists and is callable (or a class with kind="class"); returns it.

    `params`: how many positional parameters it must accept, or their names in order.
    kind: "callable" (default), "class", or "any" (a module-level value such as an optimizer or a model).
    """
    label = getattr(module, "__name__", "program")
    if not hasattr(module, name):
        fail(f"{label}.{name}", f"{label} has no {_WHAT.get(kind, 'attribute')} named {name!r}")
    value = getattr(module, name)
    if kind == "class" and not inspect.isclass(value):
        fail(f"{label}.{name}", f"{name!r} should be a class, it is {type(value).__name__}")
    if kind == "callable" and not callable(value):  # kind="any": only that the name exists
        fail(f"{label}.{name}", f"{name!r} should be callable, it is {type(value).__name__}")
    if params is not None:
        _check_params(f"{label}.{name}", value, params)
    return value


def _check_params(check: str, function: Any, params: int | Sequence[str]) -> None:
    try:
        signature = inspect.signature(function)
    except (TypeError, ValueError):
        return  # builtins without a signature: nothing to compare
    positional = [
        p.name for p in signature.parameters.values() if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    takes_varargs = any(p.kind == p.VAR_POSITIONAL for p in signature.parameters.values())
    if isinstance(params, int):
        required = [
            p
            for p in signature.parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
        ]
        if len(required) > params or (len(positional) < params and not takes_varargs):
            fail(check, f"should accept {params} positional arguments; its signature is {signature}")
    elif list(positional[: len(params)]) != list(params):
        fail(check, f"should take parameters ({', '.join(params)}); its signature is {signature}")


# --- interfaces listed as data, and what a scaffold leaves to a person ----------------------------------------


@dataclass(frozen=True)
class Expect:
    """One name the translation must have: what `require` checks, plus the TODO a scaffold attached to it."""

    name: str
    kind: str = "callable"
    params: int | tuple[str, ...] | None = None
    todo: str = ""


def expect(name: str, *, kind: str = "callable", params: int | Sequence[str] | None = None, todo: str = "") -> Expect:
    """An entry of an interface list: `name` (kind and params as in `require`), `todo` the decision left open."""
    return Expect(name, kind, params if params is None or isinstance(params, int) else tuple(params), todo)


def check_interface(module: Any, expected: Sequence[Expect]) -> None:
    """Every entry of `expected` exists in `module` as described; ONE Mismatch lists all that do not.

    The message names each misfit with its TODO (e.g. "TODO 2: ..."), so a scaffold run against a real
    translation says which decisions are still open. Details: `names` (the misfits), `todos`.
    """
    misfits = []
    for item in expected:
        try:
            require(module, item.name, params=item.params, kind=item.kind)
        except Mismatch as mismatch:
            misfits.append((item, mismatch))
    if misfits:
        parts = [
            f"{item.name}: {mismatch.message}" + (f" [{item.todo}]" if item.todo else "") for item, mismatch in misfits
        ]
        fail(
            "interface",
            f"{len(misfits)} of {len(expected)} names do not fit: " + "; ".join(parts),
            names=[item.name for item, _ in misfits],
            todos=[item.todo for item, _ in misfits if item.todo],
        )


class Unfinished(Exception):
    """A contract reached a TODO its author has not done yet: a contract error, never the translation's fault."""


def todo(what: str) -> Any:
    """Mark a place a person must finish (a scaffold puts these where it cannot decide); raises Unfinished."""
    raise Unfinished(what)
