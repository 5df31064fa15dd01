"""A claimed session on a small draft with an in-place update bug, and a failing run of it: shared by the
fix-log, prefill, runs and workspace tests."""

from __future__ import annotations

from annotate import fixlog
from annotate.models import FixSession, Run, RunKind, RunStatus
from tests.annotate.factories import RunFactory, TranslationFactory

DRAFT = "import jax.numpy as jnp\n\nx = jnp.zeros(3)\nx[0] = 1.0\nprint(x)\n"
FIXED = "import jax.numpy as jnp\n\nx = jnp.zeros(3)\nx = x.at[0].set(1.0)\nprint(x)\n"


def open_session(owner, code: str = DRAFT, **kwargs) -> FixSession:
    translation = TranslationFactory(code=code, **kwargs)
    return fixlog.claim(translation, owner)


def failing_run(session, **kwargs) -> Run:
    defaults = {
        "kind": RunKind.JAX,
        "status": RunStatus.ERROR,
        "exit_code": 1,
        "exception_type": "TypeError",
        "exception_message": "JAX arrays are immutable and do not support in-place item assignment.",
        "traceback": [{"file": "main.py", "line": 4, "function": "<module>"}],
        "session": session,
        "user": session.owner,
        "code": session.current_code,
    }
    return RunFactory(**{**defaults, **kwargs})
