"""Failed imports say whether the module is missing from the sandbox or does not exist at all.

`install()` wraps importlib's `_find_and_load`, the one function both the `import` statement and
`importlib.import_module` call for a module not imported yet (modules already in `sys.modules` never reach
it, so imports cost nothing more). A plain ModuleNotFoundError raised there is replaced by `MissingModule`,
a subclass that prints as `ModuleNotFoundError` and whose message is worked out from the module index only
when someone reads it: libraries probe optional modules in `try: import x / except ImportError` by the
dozen, and those errors are never read.

    >>> import jax.experimental.stax
    ModuleNotFoundError: jax.experimental.stax does not exist (did you mean jax.example_libraries.stax?)

`from jax.experimental import stax` fails later, in the interpreter itself ("cannot import name"): the
sandbox's report of an uncaught exception asks `explain_import_error` for that one.
"""

from __future__ import annotations

import builtins
import sys

# The frozen importlib the interpreter itself calls (`importlib._bootstrap` is the same module object).
_bootstrap = sys.modules["_frozen_importlib"]


class MissingModule(builtins.ModuleNotFoundError):
    """A ModuleNotFoundError with the index's explanation as its message (computed when first read).

    `name`, `path` and `msg` stay those of the original error; `except ModuleNotFoundError` catches it.
    """

    def __str__(self) -> str:
        cached = self.__dict__.get("_t2j_message")
        if cached is None:
            try:
                from t2j_runtime import module_index  # not at start-up: most programs never need it

                cached = module_index.explain(self.name) or super().__str__()
            except Exception:  # the message must never be what fails
                cached = super().__str__()
            self.__dict__["_t2j_message"] = cached
        return cached

    def __reduce__(self):
        # Pickled (e.g. by a DataLoader worker) as the plain built-in with the explained message.
        return builtins.ModuleNotFoundError, (str(self),), {"name": self.name, "path": self.path}


# Tracebacks and `type(exc).__name__` show it as the built-in: "ModuleNotFoundError: ...".
MissingModule.__name__ = MissingModule.__qualname__ = "ModuleNotFoundError"
MissingModule.__module__ = "builtins"


def _find_and_load(name, import_):
    try:
        return _original(name, import_)
    except builtins.ModuleNotFoundError as exc:
        if type(exc) is not builtins.ModuleNotFoundError:
            raise
        error = MissingModule(exc.msg, name=exc.name, path=exc.path)
    raise error  # outside the except block, so the original is not chained as "during handling of ..."


# The interpreter strips importlib's own frames from the traceback of a failed `import` statement by their
# file name; giving this wrapper the same name keeps its frame out of the program's traceback too.
_find_and_load.__code__ = _find_and_load.__code__.replace(co_filename="<frozen importlib._bootstrap>")
_original = _bootstrap._find_and_load


def install() -> None:
    """Wrap importlib's loader entry point once (idempotent)."""
    if _bootstrap._find_and_load is not _find_and_load:
        _bootstrap._find_and_load = _find_and_load


def explain_import_error(exc: BaseException) -> None:
    """Give an uncaught `from M import X` ImportError the module index's explanation when X is a module that
    moved or went (see module_index.explain_from_import); any other exception is left as it is."""
    if type(exc) is not builtins.ImportError:
        return
    try:
        from t2j_runtime import module_index

        explained = module_index.explain_from_import(exc.msg or "")
    except Exception:  # the report must never be what fails
        return
    if explained:
        exc.msg = explained
