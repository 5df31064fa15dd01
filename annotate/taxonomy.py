"""Suggest an error category (annotate.models.StepCategory) for a fix step from its error text and code diff.

Rules are ordered: the concrete exception signatures of JAX/Flax/Optax come first (they are unambiguous), then
words people use when describing a bug in prose, then a look at what the fix changed in the code. The paper's
steps are mostly prose ("the learning rate should be 0.01 to match PyTorch"), so the prose rules matter as
much as the exception ones. `numerical` covers any computed difference from the PyTorch original (data,
hyper-parameters, loss, initialisation, printed values); `other` is what none of the rules recognises.
"""

from __future__ import annotations

import re

from annotate.models import StepCategory as C

_I = re.IGNORECASE

# Exception signatures: (category, pattern) checked in order on the error text.
_SIGNATURES: list[tuple[str, re.Pattern]] = [
    # "Can't import stax from jax": the name moved or never existed; not a forgotten import line.
    (C.NONEXISTENT_API, re.compile(r"can'?t import|cannot import", _I)),
    (
        C.MISSING_IMPORT,
        re.compile(
            r"No module named|NameError: name '(jax|jnp|np|optax|flax|nn|random|partial|"
            r"lax|pickle|math|torch|train_state)' is not defined|(?<!\w)is not imported|"
            r"\bnot imported\b|\bmissing import|module of \w+ is not introduced|\bimport (jax|optax|flax)\b",
            _I,
        ),
    ),
    (
        C.TRACER,
        re.compile(
            r"Tracer|Concretization|abstract array|not a valid JAX type|static_argnums|"
            r"non-hashable static|jit\(\) missing|inside (a )?JIT|JIT-compiled|side effect",
            _I,
        ),
    ),
    (
        C.INPLACE_MUTATION,
        re.compile(
            r"does not support item assignment|item assignment|in-place|inplace|"
            r"\.at\[|immutable",
            _I,
        ),
    ),
    (
        C.STATEFUL_API,
        re.compile(
            r"ScopeInvalid|AssignSubModule|SetAttributeFrozenModule|CallCompactUnbound|"
            r"unbound module|only accessible from inside|setup\(\)|@?nn\.compact|"
            r"\.init\(|\.apply\(|\binit\(\)|\bapply\(\)|apply_updates|opt_state|train_?state|TrainState|"
            r"zero_grad|\.backward\(|state_dict|register_\w+_hook|Module instance is frozen",
            _I,
        ),
    ),
    (
        C.NONEXISTENT_API,
        re.compile(
            r"has no attribute|no attribute '|not available or deprecated|deprecated|"
            r"unexpected keyword argument|got an unexpected|does not exist in|"
            r"is not a (function|module)|cannot import name|does not have a built-in|no direct attributes?",
            _I,
        ),
    ),
    (
        C.SHAPE_DTYPE,
        re.compile(
            r"shape|dtype|broadcast|dimension|dot_general|out of bounds for axis|"
            r"IndexError|rank \d|\bNCHW\b|\bNHWC\b|channels?-last|one-hot|float32|int32|"
            r"int8|\b2D\b|\b3D\b|\b4D\b|reshape|transpose",
            _I,
        ),
    ),
    (
        C.PRNG,
        re.compile(
            r"PRNG|\brng\b|random seed|manual_seed|\bseed\b|random\.split|split (the )?key|"
            r"\bsubkey\b|rng_key|\bkey\b.*\brandom|random\b.*\bkey\b|parameter key|key parameter",
            _I,
        ),
    ),
]

# Prose about behaving differently from the PyTorch original: the translation computes something else.
_NUMERICAL = re.compile(
    r"match(es|ing)? (the )?(PyTorch|original)|original (PyTorch )?code|PyTorch (code )?(uses|has|prints|"
    r"applies|computes|trains|loads|creates|implements|performs|outputs|logs|stores|labels|target)|"
    r"learning rate|\blr\b|optimi[sz]er|\bSGD\b|\bAdam\b|loss|initiali[sz]|Kaiming|Xavier|normali[sz]|"
    r"tolerance|mismatch|numerical|accuracy|epoch|gradient|noise|synthetic|data points|samples|dataset|"
    r"inconsistent|different|instead of|should be|not match|doesn't match|does not match|output format|prints?\b",
    _I,
)
_IMPORT_LINE = re.compile(r"^\s*(import\s+\w|from\s+[\w.]+\s+import\s)")
_TYPE_ERRORS = re.compile(r"^\s*(TypeError|ValueError|AttributeError|NameError|KeyError)\b")


def suggest_category(error: str, code_before: str = "", code_after: str = "") -> str:
    """The most likely StepCategory value for a step; `other` when nothing points anywhere."""
    text = error or ""
    for category, pattern in _SIGNATURES:
        if pattern.search(text):
            return category.value
    if _only_adds_imports(code_before, code_after):
        return C.MISSING_IMPORT.value
    if _NUMERICAL.search(text):
        return C.NUMERICAL.value
    return _from_code(code_before, code_after, text)


def _only_adds_imports(code_before: str, code_after: str) -> bool:
    """The fix only added import lines (and the erroneous code is not empty)."""
    if not code_before.strip() or not code_after.strip():
        return False
    before = {line.strip() for line in code_before.splitlines()}
    added = [line for line in code_after.splitlines() if line.strip() and line.strip() not in before]
    return bool(added) and all(_IMPORT_LINE.match(line) for line in added)


def _from_code(code_before: str, code_after: str, text: str) -> str:
    """Last resort: what the fix touched in the code."""
    if ".at[" in code_after and ".at[" not in code_before:
        return C.INPLACE_MUTATION.value
    if re.search(r"random\.(split|PRNGKey|key)\(", code_after) and not re.search(
        r"random\.(split|PRNGKey|key)\(", code_before
    ):
        return C.PRNG.value
    if re.search(r"optax\.|\.init\(|\.apply\(", code_after) and not re.search(
        r"optax\.|\.init\(|\.apply\(", code_before
    ):
        return C.STATEFUL_API.value
    if _TYPE_ERRORS.match(text):
        return C.SHAPE_DTYPE.value if "shape" in text.lower() else C.OTHER.value
    return C.OTHER.value
