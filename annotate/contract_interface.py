"""What a contract expects, read from its source without running it: its kind, the interface, tolerances, tests.

The host never imports a contract (only the sandbox runs it), so everything here is read from the syntax tree.
Two kinds of contract exist (sandbox_runtime/README.md):

- staged: stage functions `spec`, `numeric`, `behavioral`, each taking (torch_program, jax_program);
- pytest: a plain test module in the T2J authors' style (`from jax_code_fixed import forward`, `def test_...`),
  its tests mapped to the same stages by t2j_contract.pytest_contract.stage_of, whose rule `stage_of` below
  repeats (tests/annotate/test_contract_interface.py keeps the two in step).

`describe(text)` lists, plainly, what a developer needs to write a translation the contract accepts: the
names it requires (kind, parameters, the TODO a scaffold left), how each is used (the contract's own lines),
the parameter layout it injects, the shape checks, the tolerances per check, and (pytest) the tests per stage.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from dataclasses import dataclass, field

STAGED, PYTEST = "staged", "pytest"
STAGES = ("spec", "numeric", "behavioral")
CANDIDATE_MODULES = ("jax_program", "jax_code", "jax_code_fixed")
# t2j_contract.pytest_contract: STAGE_BY_MARK and BEHAVIORAL_NAME.
STAGE_BY_MARK = {"spec": "spec", "numeric": "numeric", "behavioral": "behavioral", "convergence": "behavioral",
                 "training": "behavioral"}  # fmt: skip
BEHAVIORAL_NAME = re.compile(r"converg|training", re.IGNORECASE)
# Array comparisons and their tolerances when a call gives none (the helpers' and the libraries' defaults).
COMPARISON_DEFAULTS = {
    "assert_close": ("1e-05", "1e-05"),
    "assert_tracks": ("0.01", "0.01"),
    "assert_allclose": ("1e-07", "0"),
    "allclose": ("1e-05", "1e-08"),
    "isclose": ("1e-05", "1e-08"),
}
LAYOUT_HELPERS = {"dense", "conv", "layer_norm", "lstm_cell"}
KIND_WORDS = {"class": "class", "callable": "function", "any": "value"}
MAX_USES = 3
LINE_CHARS = 200


class NotAContract(ValueError):
    """The text is neither kind of contract (or not Python); the message says why, for the person who wrote it."""


@dataclass
class Expected:
    """One name the translation must provide."""

    name: str
    kind: str = "name"  # function, class, value, or name (only used, not declared)
    params: str = ""  # "(params, x)" or "4 positional arguments"
    todo: str = ""
    uses: list[str] = field(default_factory=list)  # the contract's lines that use it
    stages: list[str] = field(default_factory=list)


@dataclass
class Tolerance:
    check: str
    rtol: str
    atol: str
    stage: str
    line: int
    default: bool = False  # the helper's or library's default, not written in the contract


@dataclass
class TestInfo:
    name: str
    stage: str
    line: int


@dataclass
class Description:
    kind: str
    summary: str = ""
    expected: list[Expected] = field(default_factory=list)
    layers: list[str] = field(default_factory=list)
    shape_checks: list[str] = field(default_factory=list)
    tolerances: list[Tolerance] = field(default_factory=list)
    tests: list[TestInfo] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    programs_run_at_import: bool = False


# --- the kind ---------------------------------------------------------------------------------------------------


def contract_kind(text: str) -> str:
    """STAGED or PYTEST; raises NotAContract for text that does not parse or is neither (or both)."""
    tree = _parse(text)
    stages = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name in STAGES]
    tests = _test_functions(tree)
    if stages and tests:
        raise NotAContract(
            f"It defines both stage functions ({', '.join(stages)}) and tests ({tests[0][0].name}, ...): "
            "a contract is one or the other."
        )
    if stages:
        return STAGED
    if tests:
        return PYTEST
    raise NotAContract(
        "It is neither a staged contract (functions spec, numeric or behavioral taking (torch_program, "
        "jax_program)) nor a pytest-style module (functions named test_...)."
    )


def _parse(text: str) -> ast.Module:
    try:
        return ast.parse(text)
    except SyntaxError as error:
        raise NotAContract(f"It is not valid Python: line {error.lineno}: {error.msg}") from error
    except ValueError as error:  # NUL bytes
        raise NotAContract(f"It is not valid Python: {error}") from error


def stage_of(name: str, marks: list[str]) -> str:
    for mark in marks:
        if mark in STAGE_BY_MARK:
            return STAGE_BY_MARK[mark]
    return "behavioral" if BEHAVIORAL_NAME.search(name) else "numeric"


def _test_functions(tree: ast.Module) -> list[tuple[ast.FunctionDef, list[str]]]:
    """(test function, marks of its own and of its class) in file order."""
    found = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test"):
            found.append((node, _marks(node)))
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            for item in node.body:
                if isinstance(item, ast.FunctionDef) and item.name.startswith("test"):
                    found.append((item, _marks(item) + _marks(node)))
    return found


def _marks(node: ast.FunctionDef | ast.ClassDef) -> list[str]:
    """Names X of decorators `pytest.mark.X` / `mark.X` (called or not)."""
    marks = []
    for decorator in node.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if isinstance(target, ast.Attribute) and dotted_name(target.value).endswith("mark"):
            marks.append(target.attr)
    return marks


# --- describing ---------------------------------------------------------------------------------------------------


def describe(text: str) -> Description:
    """What the contract expects; raises NotAContract like contract_kind."""
    kind = contract_kind(text)
    tree = _parse(text)
    reader = _PytestReader(tree) if kind == PYTEST else _StagedReader(tree)
    description = Description(kind=kind, summary=(ast.get_docstring(tree) or "").strip())
    reader.fill(description)
    return description


class _Reader:
    """Shared walking: which stages reach each top-level function, the contract's lines, constants."""

    def __init__(self, tree: ast.Module) -> None:
        self.tree = tree
        self.functions = {node.name: node for node in tree.body if isinstance(node, ast.FunctionDef)}
        self.constants = {
            target.id: ast.unparse(node.value)
            for node in tree.body
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant | ast.UnaryOp)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        self.expected: dict[str, Expected] = {}

    def stages_reaching(self, roots: dict[str, str]) -> dict[str, set[str]]:
        """{function name: stages that call it, directly or through other top-level functions}."""
        reached: dict[str, set[str]] = defaultdict(set)
        for root, stage in roots.items():
            todo = [root]
            while todo:
                name = todo.pop()
                if stage in reached[name] or name not in self.functions:
                    continue
                reached[name].add(stage)
                todo += [
                    call.func.id
                    for call in ast.walk(self.functions[name])
                    if isinstance(call, ast.Call) and isinstance(call.func, ast.Name)
                ]
        return reached

    def entry(self, name: str) -> Expected:
        return self.expected.setdefault(name, Expected(name=name))

    def use(self, name: str, line: str, stages: set[str]) -> None:
        entry = self.entry(name)
        if line not in entry.uses and len(entry.uses) < MAX_USES:
            entry.uses.append(line)
        entry.stages = [stage for stage in STAGES if stage in stages or stage in entry.stages]

    def value(self, node: ast.AST) -> str:
        text = ast.unparse(node)
        return self.constants.get(text, text)

    def tolerances(self, function: ast.FunctionDef, stage: str, check_of) -> list[Tolerance]:
        found = []
        for call in ast.walk(function):
            if not isinstance(call, ast.Call):
                continue
            name = dotted_name(call.func).rsplit(".", 1)[-1]
            given = {kw.arg: self.value(kw.value) for kw in call.keywords if kw.arg in ("rtol", "atol", "rel", "abs")}
            if name not in COMPARISON_DEFAULTS and not given:
                continue
            rtol, atol = COMPARISON_DEFAULTS.get(name, ("", ""))
            found.append(
                Tolerance(
                    check=check_of(call),
                    rtol=given.get("rtol", given.get("rel", rtol)),
                    atol=given.get("atol", given.get("abs", atol)),
                    stage=stage,
                    line=call.lineno,
                    default=not given,
                )
            )
        return found

    def finish(self, description: Description) -> None:
        description.expected = list(self.expected.values())
        description.programs_run_at_import = any(
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "PROGRAMS_RUN_AT_IMPORT" for t in node.targets)
            and isinstance(node.value, ast.Constant)
            and node.value.value is True
            for node in self.tree.body
        )


class _StagedReader(_Reader):
    def fill(self, description: Description) -> None:
        stages = {name: name for name in STAGES if name in self.functions}
        description.stages = list(stages)
        reached = self.stages_reaching(stages)
        candidates = {"jax_program"} | {
            self.functions[name].args.args[1].arg for name in stages if len(self.functions[name].args.args) > 1
        }
        self._declared(candidates)
        for name, function in self.functions.items():
            where = reached.get(name, set())
            if not where:
                continue
            for statement in _statements(function):
                for node in ast.walk(statement):
                    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                        if node.value.id in candidates:
                            self.use(node.attr, _line(statement), where)
                    elif isinstance(node, ast.Call) and dotted_name(node.func).endswith("assert_same_shapes"):
                        label = _label(node)
                        if label not in description.shape_checks:
                            description.shape_checks.append(label)
                    elif isinstance(node, ast.Dict) and any(map(_calls_layout_helper, node.values)):
                        # A parameter tree built with the layout helpers: its keys are the JAX side's layer names.
                        description.layers += [
                            layer
                            for key, value in zip(node.keys, node.values, strict=True)
                            if key is not None
                            and (layer := f"{ast.unparse(key)}: {ast.unparse(value)}") not in description.layers
                        ]
            for stage in sorted(where, key=STAGES.index):
                description.tolerances += self.tolerances(function, stage, _label)
        description.tolerances.sort(key=lambda t: (STAGES.index(t.stage), t.line))
        self.finish(description)

    def _declared(self, candidates: set[str]) -> None:
        """Names the contract requires: require(jax_program, "name", ...) and expect("name", ...) entries."""
        for call in ast.walk(self.tree):
            if not isinstance(call, ast.Call):
                continue
            function = dotted_name(call.func).rsplit(".", 1)[-1]
            args = call.args
            if function == "require" and len(args) >= 2 and _name_of(args[0]) in candidates:
                name_node = args[1]
            elif function == "expect" and args:
                name_node = args[0]
            else:
                continue
            if not (isinstance(name_node, ast.Constant) and isinstance(name_node.value, str)):
                continue
            options = {kw.arg: kw.value for kw in call.keywords}
            entry = self.entry(name_node.value)
            kind = options.get("kind")
            entry.kind = KIND_WORDS.get(kind.value if isinstance(kind, ast.Constant) else "callable", "name")
            entry.params = _params_text(options.get("params"))
            todo = options.get("todo")
            entry.todo = todo.value if isinstance(todo, ast.Constant) and isinstance(todo.value, str) else ""
            entry.stages = entry.stages or ["spec"]


class _PytestReader(_Reader):
    def fill(self, description: Description) -> None:
        imported, modules = self._imports()
        tests = _test_functions(self.tree)
        roots = {}
        for function, marks in tests:
            stage = stage_of(function.name, marks)
            description.tests.append(TestInfo(name=function.name, stage=stage, line=function.lineno))
            roots[function.name] = stage
        description.stages = ["spec"] + [s for s in STAGES[1:] if any(t.stage == s for t in description.tests)]
        reached = self.stages_reaching(roots)
        for function, _ in tests:  # methods of test classes are not top-level functions: walk them too
            reached.setdefault(function.name, set()).add(roots[function.name])
        for name in imported.values():
            self.entry(name).stages = ["spec"]  # collecting the module imports it
        bodies = {function.name: function for function, _ in tests} | self.functions
        for name, function in bodies.items():
            where = reached.get(name, set())
            for statement in _statements(function):
                for node in ast.walk(statement):
                    if isinstance(node, ast.Name) and node.id in imported:
                        self.use(imported[node.id], _line(statement), where)
                    elif isinstance(node, ast.Attribute) and _name_of(node.value) in modules:
                        self.use(node.attr, _line(statement), where)
            for stage in sorted(where, key=STAGES.index):
                description.tolerances += self.tolerances(function, stage, lambda call, name=name: name)
        description.tolerances += [
            Tolerance(check=name, rtol=value, atol="", stage="", line=0)
            for name, value in self.constants.items()
            if "TOL" in name.upper()
        ]
        description.tolerances.sort(key=lambda t: (STAGES.index(t.stage) if t.stage else -1, t.line))
        self.finish(description)

    def _imports(self) -> tuple[dict[str, str], set[str]]:
        """({local name: the candidate's name} of `from jax_code import ...`, local names of the module itself)."""
        imported, modules = {}, set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.ImportFrom) and node.module in CANDIDATE_MODULES:
                for alias in node.names:
                    imported[alias.asname or alias.name] = alias.name
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name in CANDIDATE_MODULES:
                        modules.add(alias.asname or alias.name)
        return imported, modules


# --- small syntax helpers --------------------------------------------------------------------------------------


def _statements(function: ast.FunctionDef) -> list[ast.stmt]:
    """The simple statements of a function (not the compound ones around them), in order."""
    found = []
    for node in ast.walk(function):
        if isinstance(node, ast.stmt) and not isinstance(
            node, ast.FunctionDef | ast.ClassDef | ast.If | ast.For | ast.While | ast.With | ast.Try
        ):
            found.append(node)
    return sorted(found, key=lambda node: node.lineno)


def _line(statement: ast.stmt) -> str:
    text = " ".join(ast.unparse(statement).split())
    return text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"


def dotted_name(node: ast.AST) -> str:
    """`a.b.c` of a Name/Attribute chain ("" for anything else): how a call's function is named."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{dotted_name(node.value)}.{node.attr}"
    return ""


def _name_of(node: ast.AST) -> str:
    return node.id if isinstance(node, ast.Name) else ""


def _label(call: ast.Call) -> str:
    """A check's name: its first argument when that is a string (or f-string), else the call itself."""
    if call.args and isinstance(call.args[0], ast.Constant) and isinstance(call.args[0].value, str):
        return call.args[0].value
    if call.args and isinstance(call.args[0], ast.JoinedStr):
        return ast.unparse(call.args[0])
    return _line(ast.Expr(call))


def _params_text(node: ast.AST | None) -> str:
    if isinstance(node, ast.Constant) and isinstance(node.value, int):
        return f"{node.value} positional argument{'s' if node.value != 1 else ''}"
    if isinstance(node, ast.List | ast.Tuple) and all(isinstance(e, ast.Constant) for e in node.elts):
        return "(" + ", ".join(str(e.value) for e in node.elts) + ")"
    return ast.unparse(node) if node is not None else ""


def _calls_layout_helper(node: ast.AST) -> bool:
    return isinstance(node, ast.Call) and dotted_name(node.func).rsplit(".", 1)[-1] in LAYOUT_HELPERS
