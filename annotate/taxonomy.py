"""Suggest the error category (annotate.models.StepCategory) of a fix step, and say why.

Structure first, words last, in this order; the first stage that decides wins:
1. the exception's own class name through a table (`ModifyScopeVariableError` is stateful-api wherever it
   appears, `NonConcreteBooleanIndexError` tracer);
2. the name or module the error involves: `NameError` of a library name is missing-import, of the program's
   own name other; `No module named 'jax.experimental.stax'` (a submodule that does not exist) and
   `cannot import name` are nonexistent-api; a missing attribute or argument of a library call is
   nonexistent-api, of the program's own code other;
3. wordings JAX, Flax and Python use for one kind of bug (`does not support item assignment`,
   `incompatible shapes`, `invalid PRNG key`, `as an abstract array`);
4. a code change that says it alone: only import lines added (missing-import) or removed (a cleanup), only
   the seed changed (prng), `.at[...]` introduced (inplace-mutation);
5. prose: each category's cue words are weighted and summed, cues of the first sentence counting double
   (a step that states several problems is filed under the first), with the code change as lesser evidence;
   a snake_case name the program itself defines (`data_dim`) is a lesser cue for `other`, and numerical's
   words piled up by the explanation do not outvote a strong cue of another category in the sentence that
   states the problem.
The paper's steps are mostly prose ("the learning rate should be 0.01 to match PyTorch"), so stage 5 matters
as much as the others. `numerical` covers any computed difference from the PyTorch original; prose that
names no category falls back to it, an exception no stage recognises to `other`.

Measured by bench/taxonomy.py against hand labels (fixtures/taxonomy/); the labelling rules are in
fixtures/taxonomy/README.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from annotate.error_text import changed_lines, exception_type, normalize
from annotate.models import StepCategory as C

_I = re.IGNORECASE


@dataclass(frozen=True)
class Classification:
    """A suggested StepCategory value and why it was chosen, in words for the person recording the step."""

    category: str
    reason: str


def suggest_category(error: str, code_before: str = "", code_after: str = "") -> str:
    """The most likely StepCategory value for a step with this error and code change."""
    return classify(error, code_before, code_after).category


def classify(error: str, code_before: str = "", code_after: str = "") -> Classification:
    """The suggested category of a step and the reason, from its error text and the code before/after the fix."""
    text = normalize(error)
    type_name = exception_type(text)
    removed, added = changed_lines(code_before, code_after)
    found = (
        _by_exception_type(type_name)
        or _by_name_involved(text, type_name, removed, added)
        or _by_wording(text)
        or _by_code_change(removed, added)
        or _by_prose(text, type_name, removed, added, _own_names(f"{code_before}\n{code_after}"))
    )
    return Classification(str(found.category), found.reason)  # the plain value, as stored and exported


# --- 1. the exception's class name ----------------------------------------------------------------------------

_TYPE_TABLE: dict[str, str] = {
    **dict.fromkeys(
        (
            "ConcretizationTypeError", "TracerBoolConversionError", "TracerIntegerConversionError",
            "TracerArrayConversionError", "NonConcreteBooleanIndexError", "UnexpectedTracerError",
            "TraceContextError", "JaxTransformError",
        ),
        C.TRACER,
    ),
    **dict.fromkeys(("InvalidRngError", "KeyReuseError"), C.PRNG),
    **dict.fromkeys(
        (
            "ModifyScopeVariableError", "ScopeCollectionNotFound", "ScopeParamNotFoundError",
            "ScopeVariableNotFoundError", "ApplyScopeInvalidVariablesTypeError",
            "ApplyScopeInvalidVariablesStructureError", "ImmutableVariableError", "InvalidScopeError",
            "AssignSubModuleError", "SetAttributeFrozenModuleError", "SetAttributeInModuleSetupError",
            "CallCompactUnboundModuleError", "CallSetupUnboundModuleError", "CallUnbindOnUnboundModuleError",
            "CallShareScopeOnUnboundModuleError", "IncorrectPostInitOverrideError", "MultipleMethodsCompactError",
            "ReservedModuleAttributeError", "ApplyModuleInvalidMethodError", "InvalidInstanceModuleError",
            "NameInUseError", "LazyInitError", "DescriptorAttributeError",
        ),
        C.STATEFUL_API,
    ),
    "ScopeParamShapeError": C.SHAPE_DTYPE,
    "FloatingPointError": C.NUMERICAL,  # jax_debug_nans / jax_debug_infs
}  # fmt: skip


def _by_exception_type(type_name: str) -> Classification | None:
    category = _TYPE_TABLE.get(type_name)
    return Classification(category, f"the exception type {type_name}") if category else None


# --- 2. the name or module involved ---------------------------------------------------------------------------

# Names a program gets from an import: modules, their usual aliases, and what `from X import name` brings in.
_LIBRARY_NAMES = frozenset(
    """jax jnp np numpy optax flax nn linen lax random jr tree_util partial functools reduce wraps tf tensorflow
    tfds torch torchvision F math os sys time pickle json re itertools collections dataclasses typing Any Tuple
    List Dict Optional Callable Sequence Union plt matplotlib pd pandas scipy sklearn PIL Image tqdm chex einops
    orbax haiku hk train_state struct serialization checkpoints freeze unfreeze FrozenDict value_and_grad grad
    jit vmap pmap jacfwd jacrev hessian device_put tree_map config stax optimizers""".split()
)
# Names whose absence is a plumbing problem of the PRNG key or of the explicit state (labelling rule 2).
_KEY_NAME = re.compile(r"^(?:\w*_)?(?:key|keys|rng|rngs|subkey|prng|prng_key|rng_key|seed)(?:_\w+)?$", _I)
_STATE_NAME = re.compile(r"(?:^|_)(?:params|parameters|opt_state|state|variables|batch_stats|optimizer)(?:$|_)", _I)
# Objects of the libraries (JAX arrays, Flax modules, optax transformations, TrainState) as errors name them.
_LIBRARY_OBJECT = re.compile(
    r"ArrayImpl|^Array$|DeviceArray|Tracer|GradientTransformation\w*|TrainState|FrozenDict|PRNGKeyArray|"
    r"^(?:Dense|Conv\w*|LSTMCell|OptimizedLSTMCell|GRUCell|RNN|Embed|BatchNorm|LayerNorm|Dropout|Sequential)$"
)
_LIBRARY_FUNCTION = re.compile(
    r"^(?:jit|grad|value_and_grad|vmap|pmap|scan|fori_loop|while_loop|cond|max_pool|avg_pool|min_pool|"
    r"adam|adamw|sgd|rmsprop|softmax|log_softmax|relu|normal|uniform|randint|split|PRNGKey|key|permutation|"
    r"bernoulli|categorical|dot|matmul|einsum|reshape|apply_gradients|apply_updates|init|apply|update|"
    r"Dense|Conv|ConvTranspose|LSTMCell|OptimizedLSTMCell|GRUCell|RNN|Embed|BatchNorm|LayerNorm|Dropout|"
    r"initialize_carry|lazy_init|tabulate|bind|make_rng)$"
)
_PYTORCH_METHOD = re.compile(
    r"^(?:view|expand|size|numpy|item|float|long|double|cuda|cpu|to|detach|permute|contiguous|unsqueeze|"
    r"masked_fill|zero_grad|backward|step|parameters|state_dict|load_state_dict|train|eval)$"
)

_NAME_ERROR = re.compile(r"\bname '(\w+)' is not defined|\bcannot access (?:local|free) variable '(\w+)'|"
                         r"local variable '(\w+)' referenced before assignment")  # fmt: skip
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_CANNOT_IMPORT = re.compile(r"cannot import name '?(\w+)'?|can'?t import \w+ from", _I)
_MODULE_ATTRIBUTE = re.compile(r"module '([\w.]+)' has no attribute '(\w+)'")
_OBJECT_ATTRIBUTE = re.compile(r"""(?:type object )?['"]([\w.<>]+)['"] (?:object )?has no attribute ['"](\w+)['"]""")
_CALL_PROBLEM = re.compile(
    r"(?:^|\s|\.)([A-Za-z_][\w.<>]*)\(\) (?:missing \d+ required (?:positional|keyword-only) arguments?: (.+)"
    r"|got an unexpected keyword argument '(\w+)'|takes \d+ positional arguments? but \d+ (?:were|was) given)"
)
_KNOWN_TOP_LEVEL = ("jax", "jaxlib", "flax", "optax", "orbax", "chex", "haiku", "tensorflow", "torch")


def _by_name_involved(text: str, type_name: str, removed: list[str], added: list[str]) -> Classification | None:
    if match := _NO_MODULE.search(text):
        return _missing_module(match.group(1))
    if match := _CANNOT_IMPORT.search(text):
        return Classification(C.NONEXISTENT_API, "an import of a name the library does not have")
    if match := _NAME_ERROR.search(text):
        return _undefined_name(next(group for group in match.groups() if group))
    if match := _MODULE_ATTRIBUTE.search(text):
        module, attribute = match.groups()
        if module == "__main__":
            return Classification(C.OTHER, f"the program's own module has no {attribute!r}")
        return Classification(C.NONEXISTENT_API, f"module {module!r} has no attribute {attribute!r}")
    if match := _OBJECT_ATTRIBUTE.search(text):
        return _missing_attribute(match.group(1).rsplit(".", 1)[-1], match.group(2), text, removed, added)
    if type_name in ("TypeError", "") and (match := _CALL_PROBLEM.search(text)):
        return _call_problem(match, removed, added)
    if "not a valid JAX type" in text:
        if _threads_state(removed, added):
            return Classification(C.STATEFUL_API, "a non-array passed to a JAX transformation; the fix passes the "
                                                  "explicit parameters instead")  # fmt: skip
        return Classification(C.TRACER, "a non-array argument of a JAX transformation (mark it static)")
    if re.search(r"unsupported operand type.*'(?:Frozen)?[Dd]ict'", text):
        return Classification(C.STATEFUL_API, "the parameter dict used as an array: update the pytree leaf by leaf")
    if re.search(r"'(?:(?:Frozen)?[Dd]ict|GradientTransformation\w*|TrainState)' object is not callable", text):
        return Classification(C.STATEFUL_API, "the parameter dict called as if it were the model")
    if "'module' object is not callable" in text:
        return Classification(C.NONEXISTENT_API, "a module called as if it were a function")
    if "NoneType" in text:
        return Classification(C.OTHER, "a None where a value was expected: a stub or a missing return")
    if type_name == "KeyError":
        key = text.split(":", 1)[-1].strip().strip("'\"")
        if _STATE_NAME.search(key):
            return Classification(C.STATEFUL_API, f"KeyError {key!r}: a collection of the variables dict")
        return Classification(C.OTHER, f"KeyError {key!r} in the program's own data")
    return None


def _missing_module(module: str) -> Classification:
    top = module.split(".")[0]
    if "." in module and top in _KNOWN_TOP_LEVEL:
        return Classification(C.NONEXISTENT_API, f"{module!r} is no module of {top}: it moved or never existed")
    if top in _KNOWN_TOP_LEVEL:
        return Classification(C.OTHER, f"the library {top!r} is not installed in the sandbox")
    return Classification(C.NONEXISTENT_API, f"no module named {module!r}")


def _undefined_name(name: str) -> Classification:
    if name in _LIBRARY_NAMES:
        return Classification(C.MISSING_IMPORT, f"{name!r} is a library name that was never imported")
    if _KEY_NAME.match(name):
        return Classification(C.PRNG, f"the PRNG key {name!r} is not defined where it is used")
    if _STATE_NAME.search(name):
        return Classification(C.STATEFUL_API, f"the explicit state {name!r} is not passed where it is used")
    return Classification(C.OTHER, f"{name!r} is a name of the program itself that is not defined")


def _missing_attribute(owner: str, attribute: str, text: str, removed: list[str], added: list[str]) -> Classification:
    if re.search(r"only accessible from inside|setup\(\)", text):
        return Classification(C.STATEFUL_API, f"{attribute!r} of a Flax module exists only inside init/apply")
    if attribute in ("weight", "bias", "kernel", "params", "parameters", "grad", "training"):
        return Classification(C.STATEFUL_API, f"PyTorch-style parameter access ({attribute}) on {owner}")
    if attribute in ("apply", "init", "apply_fn", "apply_gradients", "tx", "opt_state", "update"):
        return Classification(C.STATEFUL_API, f"the explicit-state API ({attribute}) looked up on {owner}")
    if owner == "function" and attribute in ("apply", "init"):
        return Classification(C.STATEFUL_API, f"a plain function used as a Flax module ({attribute})")
    if _LIBRARY_OBJECT.search(owner):
        if attribute.endswith("_") and not attribute.startswith("_"):
            return Classification(C.INPLACE_MUTATION, f"PyTorch's in-place {attribute}() on an immutable JAX array")
        if attribute in ("zero_grad", "step", "backward", "parameters", "state_dict"):
            return Classification(C.STATEFUL_API, f"PyTorch's stateful {attribute} on a {owner}")
        return Classification(C.NONEXISTENT_API, f"a {owner} has no attribute {attribute!r}")
    if _PYTORCH_METHOD.match(attribute):
        return Classification(C.NONEXISTENT_API, f"PyTorch's {attribute} does not exist on {owner}")
    if _STATE_NAME.search(attribute) or _threads_state(removed, added):
        return Classification(C.STATEFUL_API, f"state kept on {owner}, the program's own object, not passed explicitly")
    return Classification(C.OTHER, f"{owner} is the program's own object; it has no {attribute!r}")


def _call_problem(match: re.Match, removed: list[str], added: list[str]) -> Classification:
    # "Dense.__init__()" and "Dense.__call__()" are calls of Dense.
    parts = [part for part in match.group(1).split(".") if part not in ("__init__", "__call__", "<locals>")]
    function = parts[-1] if parts else match.group(1)
    missing = re.findall(r"'(\w+)'", match.group(2) or "")
    own = any(re.match(rf"(?:def|class) {re.escape(function)}\b", line) for line in removed + added)
    if "__call__" in match.group(1) and "positional argument" in match.group(0) and "were given" in match.group(0):
        return Classification(C.STATEFUL_API, f"the module {function} called with more arguments, the PyTorch way: "
                                              "Flax takes its parameters through apply")  # fmt: skip
    if any(_STATE_NAME.search(name) for name in missing):
        return Classification(C.STATEFUL_API, f"{function}() needs the parameters or optimizer state passed in")
    if any(_KEY_NAME.match(name) for name in missing):
        return Classification(C.PRNG, f"{function}() called without its PRNG key")
    if not own and (_LIBRARY_FUNCTION.match(function) or _LIBRARY_OBJECT.search(function)):
        if function in ("apply_gradients", "apply_updates", "init", "apply", "update"):
            return Classification(C.STATEFUL_API, f"{function}() of the explicit-state API called the PyTorch way")
        return Classification(C.NONEXISTENT_API, f"a call form of the library's {function}() that does not exist")
    if _threads_state(removed, added):
        return Classification(C.STATEFUL_API, f"{function}() needs the parameters or optimizer state passed in")
    return Classification(C.OTHER, f"{function}() is the program's own function, called with the wrong arguments")


_STATE_USE = re.compile(r"\.apply\(|apply_updates|\bopt_state\b|\bparams\b")


def _threads_state(removed: list[str], added: list[str]) -> bool:
    """The fix starts passing the explicit parameters or optimizer state, or calling the model through apply."""

    def uses(lines: list[str]) -> int:
        return sum(len(_STATE_USE.findall(line)) for line in lines)

    return uses(added) > uses(removed)


# --- 3. wordings of one kind of bug ---------------------------------------------------------------------------


def _any(*alternatives: str) -> re.Pattern:
    return re.compile("|".join(alternatives), _I)


_WORDINGS: list[tuple[str, re.Pattern, str]] = [
    (C.INPLACE_MUTATION, _any(r"does not support (?:in-place )?item assignment", "arrays are immutable",
                              "cannot modify arrays in-place", "inplace=False", "destination is read-only"),
     "JAX arrays are immutable"),
    (C.STATEFUL_API, _any(r"""collection ['"]\w+['"]""", r"\bmutable\b", "is frozen", "unbound module",
                          "outside of setup", "only accessible from inside"),
     "a Flax module's variables and binding"),
    (C.PRNG, _any("PRNG key", "PRNGKey", "key_data", r"\bkey (?:is|was) never split"), "the PRNG key"),
    (C.TRACER, _any("as an abstract array", "non-hashable static", "unhashable type", r"\bconcrete\b", r"\bstatic\b",
                    "traced array", "tracer"),
     "tracing under a JAX transformation"),
    (C.NONEXISTENT_API, _any("is not supported", "not implemented for", "(?:has been|was) removed", "is deprecated",
                             "no longer supported"),
     "the library does not offer it"),
    (C.SHAPE_DTYPE, _any("incompatible shapes", r"\bshapes?\b", "dot_general", "contracting dimensions", "broadcast",
                         "out of bounds for axis", "axis sizes", "leading axis", r"\b(?:in|out)_axes\b",
                         "Size of label", "does not match previous terms", "inconsistent sizes", r"\bdimensions?\b",
                         r"\bndim\b", r"\brank\b", r"\b[1-5]D\b", "cannot reshape", "too many indices",
                         "Indexer must", "unsupported operand type", r"\bdtypes?\b", "integer (?:or boolean )?type",
                         "only integers?", "scalar-output", "(?:equal|identical|the same) (?:output )?types?",
                         "type structure", "unsized object", "0-d array", "zero-dimensional", "inhomogeneous",
                         "must be (?:an? )?integers?"),
     "shapes or dtypes"),
    (C.NUMERICAL, _any(r"\bnan generated\b", r"invalid value \((?:nan|inf)\)", "Not equal to tolerance",
                       "Mismatched elements"),
     "values differ from the expected ones"),
]  # fmt: skip


def _by_wording(text: str) -> Classification | None:
    prose = _is_prose(text)
    for category, pattern, what in _WORDINGS:
        # A developer's assertion may use words like "shape"; only NumPy's assert_allclose wording is structure.
        if prose and category != C.NUMERICAL:
            continue
        if match := pattern.search(text):
            return Classification(category, f"the error's wording “{match.group(0)}”: {what}")
    return None


def _is_prose(text: str) -> bool:
    """A description in someone's words rather than an exception (assertions are a developer's words too)."""
    return exception_type(text) in ("", "AssertionError")


# --- 4. a code change that says it alone ----------------------------------------------------------------------

_IMPORT_LINE = re.compile(r"^(?:import\s+\w|from\s+[\w.]+\s+import\s)")
# A library class constructed with no arguments: `nn.OptimizedLSTMCell()`, `nn.Dense()`.
_EMPTY_LIBRARY_CALL = re.compile(r"\b((?:nn|linen|optax|jax\.\w+|jnp)\.[A-Z]\w*)\(\)")
_SEED = re.compile(r"(?:PRNGKey|random\.key|manual_seed|seed)\s*\(\s*\d+\s*\)|\bseed\s*=\s*\d+")


def _by_code_change(removed: list[str], added: list[str]) -> Classification | None:
    code_removed = [line for line in removed if not line.startswith("#")]
    code_added = [line for line in added if not line.startswith("#")]
    if not code_removed and not code_added:
        return None
    if code_added and all(_IMPORT_LINE.match(line) for line in code_added) and not code_removed:
        return Classification(C.MISSING_IMPORT, "the fix only adds import lines")
    if code_removed and all(_IMPORT_LINE.match(line) for line in code_removed) and not code_added:
        return Classification(C.OTHER, "the fix only removes import lines (a cleanup)")
    if code_added and code_removed and all(_SEED.search(line) for line in code_removed + code_added):
        return Classification(C.PRNG, "the fix only changes the random seed")
    if any(".at[" in line for line in code_added) and not any(".at[" in line for line in code_removed):
        return Classification(C.INPLACE_MUTATION, "the fix replaces an in-place update with .at[...]")
    if constructor := _arguments_given(code_removed, code_added):
        return Classification(C.NONEXISTENT_API, f"the fix gives {constructor} the arguments its signature requires")
    return None


def _arguments_given(removed: list[str], added: list[str]) -> str | None:
    """The library class the fix only gives arguments to (`nn.LSTMCell()` -> `nn.LSTMCell(features=4)`), if any:
    a constructor called without a required argument is a call form that does not exist (labelling guide)."""
    if len(removed) != len(added):
        return None
    names = []
    for before, after in zip(removed, added, strict=True):
        match = _EMPTY_LIBRARY_CALL.search(before)
        if not match or not re.search(rf"{re.escape(match.group(1))}\(\s*[^)\s]", after):
            return None
        names.append(match.group(1))
    return names[0] if names else None


# --- 5. prose -------------------------------------------------------------------------------------------------


def _cues(*pairs: tuple[int, str]) -> list[tuple[int, re.Pattern]]:
    return [(weight, re.compile(pattern, _I)) for weight, pattern in pairs]


_PROSE: dict[str, list[tuple[int, re.Pattern]]] = {
    C.PRNG: _cues(
        (3, r"\bPRNG\b|\bprng[_ ]?keys?\b|\brng[_ ]?keys?\b|\bsubkeys?\b|\bmake_rng\b|\brngs\b"),
        (3, r"manual_seed|\brandom seeds?\b|\bseeds?\b|\bRNG\b"),
        (2, r"\bdeterminis\w*|reproducib\w*|\brandomness\b"),
        (
            3,
            r"\bsplit(?:s|ting)? (?:the |a |each )?(?:\w+ )?keys?\b|"
            r"\bkeys? (?:[\w-]+ ){0,6}?(?:is |are |was |were )?(?:never |not )?(?:split|updated|changed|refreshed)\b|"
            r"\bkeys? (?:that |which )?(?:is |was )?(?:then )?(?:also|again) used\b",
        ),
        (3, r"\b(?:same|reus\w*|hard-?coded|fixed) (?:the )?(?:same )?(?:prng |rng |random )?keys?\b"),
        (3, r"(?<!jax\.)\b(?:np|numpy)\.random\b|(?:python|numpy|np)(?:'s)? (?:global )?(?:rng|random)\b"),
        (2, r"\bjax\.random\b|\brandom module\b"),
        (2, r"dropout (?:key|rng|mask)"),
        (1, r"\bkeys?\b"),
    ),
    C.TRACER: _cues(
        (3, r"\btrac(?:e|ed|er|ers|ing)\b|\bretrac"),
        (3, r"\bjit\b|\bjit-?compiled|\bjitted\b|\bstatic\b|static_arg\w*|concreti[sz]|abstract (?:array|value)"),
        (2, r"\b(?:re)?compil(?:e|es|ed|ing|ation)\b|side[- ]effects?|control flow|jax\.debug"),
        (1, r"\bvmap\b|\bpmap\b|\bhash"),
    ),
    C.STATEFUL_API: _cues(
        (
            3,
            r"\bsetup\(\)|\bsetup method|def setup|\bin setup\b|nn\.compact|@compact|\binit method\b|\binit\(\)|"
            r"\bapply\(\)|\.apply\(|\bapply_fn\b",
        ),
        (3, r"apply_updates|\bopt_?state\b|optimizer state|train[_ ]?state|TrainState|\bstateful\b"),
        (3, r"param(?:eter)?s? (?:structure|container|dict\w*|tree|pytree|tuple)|\bdictionar(?:y|ies)\b|\bpytree"),
        (
            3,
            r"\{'params'|\['params'\]|variables dict|batch_stats|batch[ _]statistics|\bmutable\b|"
            r"frozen (?:module|dict|instance|dataclass)|assign\w* self\.\w+|inside __call__|"
            r"FrozenDict|unbound|submodules?",
        ),
        (
            3,
            r"model (?:object |instance )?as (?:an? )?argument|instead of the param\w*|"
            r"(?:outside|inside) (?:of )?(?:apply|init|setup)\b|\.kernel\b|"
            r"(?:old|stale|untrained) param\w*|trained (?:params|parameters|ones)\b",
        ),
        (3, r"\bhooks?\b|register_\w+_hook|explicit (?:state|param\w*)|pass(?:es|ed|ing)? (?:in )?(?:the )?param"),
        # Parameters and state not threaded through; PyTorch's modes and buffers turned into arguments and collections.
        (
            3,
            r"\bparam\w* (?:are |is |were |was )?(?:not |never )passed|\bstate (?:is |was )?(?:reset|lost|discarded)\b|"
            r"optimizer (?:is |was )?re-?(?:created|initiali[sz]ed)|mutat\w* (?:the )?(?:model|module|optimizer)\b|"
            r"\bmodel\.(?:train|eval)\(\)|\bdeterministic (?:flag|argument)|register_buffer",
        ),
        (3, r"apply_gradients|\bleaf\b|tree_map|tree_util|optimizer\.target|opt(?:imizer)?\.init|stateless"),
        (
            2,
            r"updat\w* (?:the )?(?:model(?:'s)? )?param\w*|param\w* (?:are|is) (?:not |never )?updated|"
            r"new (?:params|parameters)\b|directly call\w*|call(?:s|ing)? (?:the )?model directly",
        ),
        (
            2,
            r"optimizer (?:usage|object|update|step|init)|model\.parameters|\.parameters\(\)|"
            r"model (?:object|instance)|variable collections?",
        ),
        # The README's stateful-api concepts in other words: init/apply and binding, state threaded in and out.
        (
            3,
            r"\binit/apply\b|\binit (?:and|or) apply\b|\.init\(|\bbind\(|\bbound module|mutable=|"
            r"(?:return|thread)\w* (?:the )?(?:updated |new )?"
            r"(?:params|parameters|opt_state|optimizer state|variables)\b|"
            r"\bfunctional (?:style|programming|approach|API)|\b(?:tx|opt(?:imizer)?)\.update\(",
        ),
        (1, r"\bparams\b|\bparameters\b|state_dict|zero_grad|\.step\(|\bvariables\b"),
    ),
    C.INPLACE_MUTATION: _cues(
        # Also an assignment into an indexed element quoted in the text, and PyTorch's in-place methods (`add_`).
        (
            3,
            r"(?:changed|modified|updated|written) in place\b|\w\[[^\]]+\]\s*[-+*/]?=\s*[\w(]|"
            r"\b(?:add|sub|mul|div|fill|masked_fill|copy|zero|clamp|normal|uniform|index_add|scatter)_(?!\w)|"
            r"assign\w* (?:in)?to (?:an? |the )?(?:\w+ )?array|"
            r"in-place|\binplace\b|item assignment|\bimmutable\b|\.at\[|"
            r"\bmutat\w* (?:an? |the |its )?(?:\w+ )?arrays?\b|\bsets? \w+\[[^\]]+\]|"
            r"not allowed (?:for|on) (?:JAX )?arrays|JAX arrays (?:cannot|can't|do not support)|"
            r"(?:an? |the )(?:element|entry|slice|row|column) of (?:a |an |the )?(?:JAX |jnp )?array",
        ),
    ),
    C.NONEXISTENT_API: _cues(
        # Stated outright: a name the library does not have (outweighs the name's own category cue, `apply_gradients`).
        (
            4,
            r"\bhas no (?:\w+ )?(?:function|attribute|method|(?:sub)?module|class)\b|"
            r"\bis not an? (?:\w+ )?(?:function|method|(?:sub)?module|class|attribute|layer)\b",
        ),
        (
            3,
            r"does not exist|doesn't exist|no such (?:function|module|attribute|method)|not available|deprecated|"
            r"removed in|removed from (?:jax|flax|optax|the library)|no longer (?:exists|available)|\bmoved to\b|"
            r"hallucinat|"
            r"\bthere is no `?(?:jax|jnp|flax|nn|optax|linen)\.\w|"
            r"does(?:n't| not) (?:accept|take) (?:an? |the )?(?:\w+ )?(?:arguments?|parameters?|keywords?)|"
            r"\bis (?:a |the )?(?:PyTorch|torch|NumPy)(?:'s)? (?:function|method|name|API|argument|keyword)\b|"
            r"\b(?:JAX|Flax|optax) calls it\b|"
            r"\bno (?:function|attribute|method|module|class) (?:named|called)\b",
        ),
        (
            3,
            r"not supported|does(?: not|n't) (?:support|provide|have (?:a|an|the) (?:built-in|function|method|"
            r"attribute|argument))|no (?:built-in|direct) (?:equivalent|counterpart|function)|not part of|"
            r"unknown (?:argument|keyword|function)|unexpected keyword|(?:wrong|invalid|incorrect) signature",
        ),
    ),
    C.MISSING_IMPORT: _cues(
        (
            4,
            r"(?:not|never) (?:been )?imported|isn't imported|not introduced|missing import|"
            r"import(?:ed)? (?:is )?missing|import (?:line|statement)s? (?:is |are )?missing|"
            r"(?:missing|absent) from the imports|"
            r"there is no '?(?:from [\w.]+ )?import \w|forg[eo]t(?:s|ten)? to import|"
            r"without (?:being |an? |the |any )?import",
        ),
    ),
    C.SHAPE_DTYPE: _cues(
        # A model's hidden, latent or embedding dimension is a size of the architecture (numerical), not a shape.
        (
            3,
            r"\bshapes?\b|\bdtypes?\b|\bbroadcast|(?<!hidden )(?<!latent )(?<!embedding )(?<!hidden layer )"
            r"\bdimension(?:s|al|ality)?\b|\baxis\b|\baxes\b|\brank\b",
        ),
        (3, r"NCHW|NHWC|NCDHW|channels?[- ](?:first|last)|matrix multiplication|element-?wise|\bmatmul\b"),
        (2, r"\bfloat(?:16|32|64)\b|\bint(?:8|32|64)\b|integer (?:tokens?)|token index|out of bounds|transpos\w*"),
        # Label encoding and the width of the program's input and output are interface shapes (labelling guide).
        (
            3,
            r"one-hot (?:encoded )?(?:labels?|targets?)|(?:labels?|targets?) (?:are |is )?(?:\w+ )?one-hot|"
            r"integer (?:labels?|class)|class (?:indices|ids)|"
            r"\b(?:input|output)(?: layer)? (?:has|have|with|of) \d+ (?:units|features|outputs|neurons|channels)\b|"
            r"\b(?:input|output)[ _](?:size|width)\b|\btoken ids?\b|instead of integers?\b|"
            r"wrong number of (?:\w+ )?(?:features|channels)\b",
        ),
        (2, r"\b[1-5]D\b"),
        (1, r"one-hot|reshape|squeeze|expand_dims|\bsizes?\b|\(\d+, ?\d+(?:, ?\d+)*\)"),
    ),
    C.NUMERICAL: _cues(
        (3, r"learning[ _]rate|\blr\b|\b(?:SGD|Adam|AdamW|RMSprop)\b|Kaiming|Xavier|Glorot|\bconverge"),
        (3, r"\bloss(?:es)?\b|\baccuracy\b|\bmetrics?\b|mean squared|cross[- ]entropy|\bMSE\b"),
        (
            2,
            r"\bepochs?\b|batch[ _]size|\bbatch ?= ?\d+|(?:hidden|latent|embedding)(?: layer)?[ _](?:size|units|dim)|"
            r"num_layers|layers?\b",
        ),
        (2, r"\bprint(?:s|ed|ing)?\b|\blog(?:s|ged|ging)?\b|SummaryWriter|tensorboard|\bplot|imshow|subplot"),
        (2, r"\bdata(?:set)?\b|\bsamples\b|data points|synthetic|dummy|CIFAR|MNIST|shuffl|normali[sz]|augment"),
        (2, r"\btest(?:ing)?\b|evaluat|inference|predict|sav(?:e|ing)|load(?:s|ed|ing)?\b|pre-?trained"),
        (2, r"match (?:the )?(?:PyTorch|original)|\boriginal\b|PyTorch (?:code )?(?:uses|has|does|only)"),
        (2, r"contract mismatch at the (?:numeric|behavioral) stage"),
        (2, r"max (?:abs|rel) diff|expected -?[\d.]+(?:e-?\d+)?, got"),
        (1, r"initiali[sz]|\bdropout\b|\bweights?\b|training|gradient|architecture|instead of|should be|differ"),
        (1, r"inconsistent|not match|\bmissing\b|\black|\bnan\b|\binf\b|tolerance|precision"),
    ),
    C.OTHER: _cues(
        # The contract's spec stage checks names and signatures: the translation is not shaped as it expects.
        (3, r"contract mismatch at the spec stage"),
        (
            4,
            r"\bunused\b|not used|never used|dead code|\bredundant\b|unnecessary|not needed|no effect|\btypo\b|"
            r"(?:does not|doesn't) (?:change|affect) anything",
        ),
        (
            4,
            r"\b(?:is|are|was|were)(?:n't| not| never)(?: being)? (?:used|utili[sz]ed|referenced)\b|\bstale\b|"
            r"\bold name|previous name|\bfalsy\b|\btruthy\b|\bis None\b|== None|\bspelling\b|\bunnamed\b",
        ),
        (
            3,
            r"empty (?:function|body|method)|\bskeleton\b|no such file|"
            r"\bnot named\b|\bname (?:the|this|each) layer",
        ),
        (4, r"\bfiles? (?:[\w./-]+ )?(?:does not exist|doesn't exist|not found|is missing)"),
        # The program's own names, paths and files: "does not exist" about them is no missing API.
        (
            4,
            r"\b(?:variable|function|class|method) names?\b|\b(?:called|named) \w+ in the (?:JAX|PyTorch|original)\b|"
            r"hard-?coded (?:file )?paths?|\bfile paths?\b|\b(?:absolute|relative) path\b|\bpaths? (?:under|to) /|"
            r"not part of the (?:sample|project|repository)|\w\.(?:csv|txt|yaml|yml|npz|pt|pth|h5)\b",
        ),
        (4, r"\brenam\w*|\bnaming\b|meta-?comment\w*|\bcomments?\b|docstring|try/except|try-except|\bmemory\b"),
        (
            3,
            r"\bundefined\b|not defined|before (?:it is |being )?(?:defined|assigned)|\bclos(?:e|ing) the\b|"
            r"\bnever clos\w*|\bclos(?:e|es|ing) (?:it|the file)\b|"
            r"\bclose\(\)|resources?\b|clean ?up|\bstyle\b|placeholder (?:function|stub)",
        ),
        (3, r"\bTODO\b|not implemented yet|\bglobal\b|\bstub\b|returns? None|NoneType|input file|duplicat\w*"),
        (
            3,
            r"no need|not necessary|superfluous|useless|irrelevant|(?:has|have) no (?:impact|influence)|"
            r"(?:does not|doesn't|won't|will not) (?:affect|change) (?:the )?(?:result|output)|misspel\w*",
        ),
        (
            3,
            r"structure only|same (?:numbers|results?|outputs?)\b|encapsulat\w*|if __name__|type hints?|"
            r"wrapp(?:ed|er|ing) (?:in|into) (?:a )?(?:function|class)",
        ),
        # The README's "other" concepts in the words people use for them, beyond those above: code that is never
        # run or read, names of the program itself, placeholders, exception handling, memory, no visible effect.
        (
            4,
            r"\bnever (?:us(?:e|es|ed|ing)|call(?:s|ed)?|invoked|read|referenced)\b|commented[- ]out|"
            r"\b(?:does|do)(?:n't| not) (?:use|need) (?:it|them)\b|\bleftovers?\b|"
            r"\bleft over\b|\bobsolete\b|\bextraneous\b|serves? no purpose|does nothing|\bno-?op\b",
        ),
        (
            3,
            r"\b(?:NameError|UnboundLocalError|FileNotFoundError|NotImplementedError)\b|not implemented|"
            r"\bmisnamed\b|\brefactor\w*|\bPEP ?8\b|exception handling|bare except|"
            r"catch(?:es|ing)? (?:all |any |every |the )?exceptions?|out of memory|\bOOM\b|\bRAM\b|\bharmless\b|"
            r"functionally (?:equivalent|identical|the same)|"
            r"no (?:observable|visible|practical|functional|real|actual) (?:effect|difference|impact|change)|"
            r"defined (?:twice|again|more than once|multiple times)",
        ),
        (2, r"\befficien\w*|\bspeed\b|\bfaster\b|\bslower\b|\bwarnings?\b"),
        (2, r"\btfds\b|tf\.data|torchvision|\bPIL\b|as_supervised|as_numpy"),
        (
            2,
            r"readab\w*|\bclarity\b|\bverbose\b|simplif\w*|(?:be|been) removed|"
            r"remov(?:e|ing) (?:the |this |these )?(?:unused|redundant|unnecessary|extra)",
        ),
    ),
}
# A description that names one of the program's own variables or functions (`data_dim`, `real_data`,
# `preprocess_fn`: snake_case, defined in the code before or after the fix) is about the program itself: stale,
# undefined, unused or redundant names are `other` (labelling rule 2). A lesser cue, like the other weight-2 words;
# the parameters, optimizer state and the PRNG key are left out, they are the subject of stateful-api and prng.
_OWN_NAME_WEIGHT = 2
_SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*_\w+\b")
_DEFINED = re.compile(r"^\s*(?:def|class)\s+(\w+)|^\s*(?:self\.)?(\w+)\s*(?::[^=]*)?=[^=]", re.MULTILINE)


def _own_names(code: str) -> frozenset[str]:
    """The names the program defines (functions, classes, assigned variables), without state and key names."""
    names = {function or variable for function, variable in _DEFINED.findall(code)}
    return frozenset(name for name in names if not (_STATE_NAME.search(name) or _KEY_NAME.match(name)))


_STRONG_CUE = 3  # the weight of a cue that names a category's subject, not only words around it
# On equal scores the more specific JAX category wins; numerical, the most common, comes last.
_PRIORITY = [C.PRNG, C.TRACER, C.INPLACE_MUTATION, C.STATEFUL_API, C.NONEXISTENT_API, C.MISSING_IMPORT,
             C.SHAPE_DTYPE, C.OTHER, C.NUMERICAL]  # fmt: skip

# What the fix changed, as lesser evidence beside the words: (category, weight, pattern on changed lines).
_CODE_CUES: list[tuple[str, int, re.Pattern]] = [
    (C.PRNG, 2, re.compile(r"random\.(?:split|PRNGKey|key)\(|\bsubkey\b|\brngs=|make_rng")),
    (C.TRACER, 2, re.compile(r"static_arg\w+|jax\.debug\.print|@(?:jax\.)?jit\b|partial\((?:jax\.)?jit")),
    (C.STATEFUL_API, 1, re.compile(r"\.apply\(|\.init\(|apply_updates|opt_state|TrainState|train_state|"
                                   r"@nn\.compact|def setup\(|\['params'\]|\{'params'")),
    (C.SHAPE_DTYPE, 1, re.compile(r"\.reshape\(|jnp\.transpose|\.T\b|jnp\.dot|@ |\.astype\(|\[:, None\]|"
                                  r"\[\.\.\., None\]")),
    (C.NUMERICAL, 1, re.compile(r"\bprint\(|plt\.|learning_rate|optax\.(?:sgd|adam)")),
]  # fmt: skip


def _by_prose(
    text: str, type_name: str, removed: list[str], added: list[str], own_names: frozenset[str] = frozenset()
) -> Classification:
    if type_name and type_name != "AssertionError":
        # A library's or Python's own message: its words are not a person's description of the bug, so what the
        # fix had to change decides (labelling rule 2).
        if _threads_state(removed, added):
            return Classification(C.STATEFUL_API, f"a {type_name} fixed by passing the explicit state")
        return Classification(C.OTHER, f"a {type_name} no rule recognises")
    scores = dict.fromkeys(_PRIORITY, 0)
    words: dict[str, list[str]] = {category: [] for category in _PRIORITY}
    code: dict[str, str] = {}
    stated: dict[str, int] = {}  # category -> weight of its strongest cue in the sentence that states the problem
    prng_subject = False
    for sentence in _sentences(text.removeprefix("AssertionError:")):
        first = not stated  # no sentence with a cue came before: this one states the problem
        for category, cues in _PROSE.items():
            # Per sentence the strongest cue counts, so a sentence does not win by piling up weak words; the
            # first sentence counts double: it states the problem (a step with several is filed under the first).
            found = [(weight, match.group(0)) for weight, pattern in cues if (match := pattern.search(sentence))]
            if category == C.OTHER and (named := [n for n in _SNAKE_CASE.findall(sentence) if n in own_names]):
                found.append((_OWN_NAME_WEIGHT, named[0]))
                code.setdefault(C.OTHER, f"{named[0]} is a name the program itself defines")
            if not found:
                continue
            weight, cue = max(found)
            scores[category] += weight * (2 if first else 1)
            prng_subject = prng_subject or (category == C.PRNG and first)
            if first:
                stated[category] = weight
            if len(words[category]) < 3 and cue not in words[category]:
                words[category].append(cue)
    for category, weight, pattern in _CODE_CUES:
        if touched := _touched(pattern, removed, added):
            scores[category] += weight
            code[category] = f"the fix touches {touched}"
    code_removed, code_added = ([line for line in lines if not line.startswith("#")] for lines in (removed, added))
    if code_removed and not code_added:
        scores[C.OTHER] += 2
        code[C.OTHER] = "the fix only deletes code (most often a cleanup)"
    elif (removed or added) and not code_removed and not code_added:
        scores[C.OTHER] += 2
        code[C.OTHER] = "the fix only changes comments"
    best = max(_PRIORITY, key=lambda category: (scores[category], -_PRIORITY.index(category)))
    if best == C.OTHER and prng_subject:
        # "the key is not used": a cleanup word about the PRNG key is key plumbing (labelling guide, prng).
        best = C.PRNG
    if best == C.NUMERICAL:
        # Numerical's words (loss, data, training, print) are also the words of any explanation of consequences,
        # so they pile up over a long text; they do not outvote a strong cue of another category in the sentence
        # that states the problem (labelling rule 3), unless that sentence names a numerical subject as strongly.
        rival = max(_PRIORITY[:-1], key=lambda category: (stated.get(category, 0), -_PRIORITY.index(category)))
        if stated.get(rival, 0) >= _STRONG_CUE and stated[rival] > stated.get(C.NUMERICAL, 0):
            best = rival
    if scores[best] == 0:
        if not text.strip():
            return Classification(C.NUMERICAL, "no error text yet: numerical, the most common kind, until there is")
        return Classification(C.NUMERICAL, "a described behaviour change with no more specific cue")
    because = [f"the error text says {', '.join(f'“{word}”' for word in words[best])}"] if words[best] else []
    return Classification(best, "; ".join(because + ([code[best]] if best in code else [])))


def _touched(pattern: re.Pattern, removed: list[str], added: list[str]) -> str:
    """What of `pattern` the fix changed, from the added lines first (what the fix wrote); "" when nothing."""
    match = pattern.search("\n".join(added)) or pattern.search("\n".join(removed))
    return match.group(0).strip().rstrip("(").strip() if match else ""


def _sentences(text: str) -> list[str]:
    """Lines, and sentences within them; the first one says what the step is about."""
    parts = [part.strip() for line in text.splitlines() for part in re.split(r"(?<=[.!?])\s+(?=[A-Z])", line)]
    return [part for part in parts if part]
