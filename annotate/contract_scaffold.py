"""Contract scaffolds: a starting staged contract generated from a sample's PyTorch program, for an admin to finish.

The program is read (its syntax tree), never run on the host. The scaffold has:
- `INTERFACE`: an `expect(...)` per public top-level function (its positional parameters) and class, checked
  by the spec stage with `check_interface`, so the spec stage passes on the PyTorch program itself and, on a
  translation, names every TODO whose name or signature differs;
- a numeric stage with one forward-pass check per `nn.Module` subclass: the module built as the program
  builds it, a fixed-seed input shaped for its first layer, its parameters moved into Flax layout with the
  t2j_contract helpers (dense, conv, layer_norm, lstm_cell), and a `todo(...)` where the JAX call goes;
- a behavioral stage skeleton (a training run compared step by step, at the convergence tier);
- numbered TODO markers wherever a person must decide (names on the JAX side, inputs, layout, tolerances).

A `todo(...)` reached at run time is a contract error ("the contract is unfinished"), never the translation's
fault. For script-like programs (training and printing at module level, as the paper's are) the scaffold sets
PROGRAMS_RUN_AT_IMPORT, so importing them is allowed and timed.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

from annotate.contract_interface import dotted_name

PARAMETERLESS = {
    "ReLU", "GELU", "Tanh", "Sigmoid", "SiLU", "ELU", "LeakyReLU", "Softmax", "LogSoftmax", "Dropout", "Dropout2d",
    "Flatten", "Identity", "MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool2d",
}  # fmt: skip
LAYOUT_HELPER = {"Linear": "dense", "Conv2d": "conv", "LayerNorm": "layer_norm", "LSTM": "lstm_cell"}
BATCH = 8
SPATIAL, SEQUENCE = 16, 12
TRAINING_NAME = re.compile(r"train|fit", re.IGNORECASE)


class ScaffoldProblem(ValueError):
    """The program cannot be read (not Python); nothing can be generated."""


@dataclass
class Scaffold:
    text: str
    todos: list[str] = field(default_factory=list)


@dataclass
class _Layer:
    attribute: str
    kind: str  # the torch.nn class name, e.g. Linear
    call: ast.Call


@dataclass
class _ModuleClass:
    node: ast.ClassDef
    init_params: list[str]
    init_defaults: dict[str, ast.expr]
    layers: list[_Layer]


def scaffold(key: str, pytorch_code: str) -> Scaffold:
    """A staged contract for the sample `key` from its PyTorch source; raises ScaffoldProblem if it does not parse."""
    try:
        tree = ast.parse(pytorch_code)
    except (SyntaxError, ValueError) as error:
        raise ScaffoldProblem(f"The PyTorch program is not valid Python: {error}") from error
    return _Writer(key, tree).write()


class _Writer:
    def __init__(self, key: str, tree: ast.Module) -> None:
        self.key = key
        self.tree = tree
        self.constants = {
            target.id
            for node in tree.body
            if isinstance(node, ast.Assign)
            for target in node.targets
            if isinstance(target, ast.Name)
        }
        self.functions = [
            node
            for node in tree.body
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_") and node.name != "main"
        ]
        self.classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and not node.name.startswith("_")]
        self.modules = [_module_class(node) for node in self.classes if _is_module(node)]
        self.todos: list[str] = []
        self.helpers: set[str] = {"check_interface", "expect"}

    def todo(self, what: str) -> str:
        label = f"TODO {len(self.todos) + 1}: {what}"
        self.todos.append(label)
        return label

    # --- the whole text ---

    def write(self) -> Scaffold:
        # In file order, so the TODOs are numbered as they appear; the imports last, once the helpers are known.
        body = [*self._settings(), self._interface(), _SPEC, self._numeric(), self._behavioral()]
        text = self._header() + "\n\n" + self._imports() + "\n\n" + "\n\n\n".join(part.strip("\n") for part in body)
        return Scaffold(text=text + "\n", todos=self.todos)

    def _header(self) -> str:
        return (
            f'"""Equivalence contract for {self.key}: a scaffold generated from its PyTorch program.\n\n'
            "Read, not run, by annotate/contract_scaffold.py. Finish every TODO (names on the JAX side, inputs,\n"
            "parameter layout, tolerances), then run it on a verified translation before saving.\n"
            '"""'
        )

    def _imports(self) -> str:
        names = sorted(self.helpers, key=str.lower)
        lines = ["import torch" if "torch" in self.helpers else "", "from t2j_contract import ("]
        lines += [f"    {name}," for name in names if name != "torch"]
        lines.append(")")
        return "\n".join(line for line in lines if line)

    def _settings(self) -> list[str]:
        settings = []
        if _runs_at_import(self.tree):
            settings.append(
                "# The PyTorch program is a script: importing it trains and prints. Let both programs run at import\n"
                "# (their output is captured and shown, the time counts against the sample's limit).\n"
                "PROGRAMS_RUN_AT_IMPORT = True"
            )
        todo = self.todo(
            "tolerances: the paper's unit tier (1e-5) for forward passes, convergence tier (1e-2) for training"
        )
        self.helpers |= {"UNIT_RTOL", "UNIT_ATOL", "CONVERGENCE_RTOL", "CONVERGENCE_ATOL"}
        settings.append(
            f"# {todo}\nRTOL, ATOL = UNIT_RTOL, UNIT_ATOL\n"
            "TRAINING_RTOL, TRAINING_ATOL = CONVERGENCE_RTOL, CONVERGENCE_ATOL\nSTEPS = 10"
        )
        return settings

    # --- spec ---

    def _interface(self) -> str:
        lines = [
            "# What the JAX side must define: the PyTorch program's public functions and classes. A translation",
            "# often renames them (a class becomes a Flax module or init/apply functions; a training step takes",
            "# params and an optimizer state): change each entry to the JAX side's name and parameters.",
            "INTERFACE = [",
        ]
        for node in sorted([*self.functions, *self.classes], key=lambda node: node.lineno):
            if isinstance(node, ast.ClassDef):
                todo = self.todo(f"the JAX form of class {node.name}")
                lines.append(f"    expect({node.name!r}, kind='class', todo={todo!r}),")
            else:
                params = _positional(node)
                todo = self.todo(f"the JAX side's {node.name}({', '.join(params)})")
                lines.append(f"    expect({node.name!r}, params={params!r}, todo={todo!r}),")
        lines.append("]")
        return "\n".join(lines)

    # --- numeric ---

    def _numeric(self) -> str:
        if not self.modules:
            todo = self.todo("compare the outputs of the program's functions on fixed inputs (assert_close)")
            self.helpers.add("todo")
            return f"def numeric(torch_program, jax_program):\n    todo({todo!r})\n"
        builders, checks = [], []
        for module in self.modules:
            builders.append(self._builder(module))
            checks.append(self._forward_check(module))
        body = "\n\n".join(checks)
        return "\n\n\n".join(builders) + "\n\n\ndef numeric(torch_program, jax_program):\n" + body + "\n"

    def _builder(self, module: _ModuleClass) -> str:
        name = module.node.name
        arguments = self._constructor_arguments(module)
        lines = [f"def {_builder_name(name)}(torch_program):", "    torch.manual_seed(0)"]
        if arguments is None:
            todo = self.todo(f"build {name} with the arguments the program uses")
            self.helpers.add("todo")
            lines.append(f"    return todo({todo!r})")
        else:
            lines.append(f"    return torch_program.{name}({arguments})")
        self.helpers.add("torch")
        return "\n".join(lines)

    def _forward_check(self, module: _ModuleClass) -> str:
        name = module.node.name
        lines = [f"    # {name}: identical parameters on both sides, then one forward pass.",
                 f"    model = {_builder_name(name)}(torch_program)"]  # fmt: skip
        shape, call = self._input(module)
        self.helpers |= {"to_torch", "to_jax", "assert_close", "flax_params", "todo"}
        lines.append(f"    x = {call}  # {self.todo(f'the input {name} takes (shape {shape})')}")
        lines.append("    expected = model(to_torch(x))")
        entries = []
        for layer in module.layers:
            helper = LAYOUT_HELPER.get(layer.kind)
            if helper is None:
                self.helpers.add("torch_params")
                entries.append(
                    f"        {layer.attribute!r}: torch_params(model.{layer.attribute}),  # nn.{layer.kind}"
                )
            else:
                self.helpers.add(helper)
                entries.append(f"        {layer.attribute!r}: {helper}(model.{layer.attribute}),")
        layout = self.todo(f"the JAX side's parameter names and layout for {name}")
        lines.append(f"    # {layout}")
        lines.append(
            "    params = flax_params({\n" + "\n".join(entries) + "\n    })"
            if entries
            else "    params = flax_params({})"
        )
        jax_call = self.todo(
            f"call the JAX {name} with `params` on to_jax(x), e.g. jax_program.model.apply(params, to_jax(x))"
        )
        lines.append(f"    got = todo({jax_call!r})")
        lines.append(f'    assert_close("{name} forward", got, expected, rtol=RTOL, atol=ATOL)')
        return "\n".join(lines)

    def _constructor_arguments(self, module: _ModuleClass) -> str | None:
        """The arguments the program builds the module with, as contract code, or None when unknown."""
        call = _first_call(self.tree, module.node.name)
        if call is None:
            required = [p for p in module.init_params if p not in module.init_defaults]
            return "" if not required else None
        parts = []
        for argument in call.args:
            resolved = self._resolve(argument, {})
            if resolved is None:
                return None
            parts.append(resolved)
        for keyword in call.keywords:
            resolved = self._resolve(keyword.value, {})
            if resolved is None or keyword.arg is None:
                return None
            parts.append(f"{keyword.arg}={resolved}")
        return ", ".join(parts)

    def _bindings(self, module: _ModuleClass) -> dict[str, str]:
        """Values of the module's __init__ parameters, as contract code: the program's call, else the defaults."""
        bound: dict[str, str] = {}
        for name, default in module.init_defaults.items():
            resolved = self._resolve(default, {})
            if resolved is not None:
                bound[name] = resolved
        call = _first_call(self.tree, module.node.name)
        if call is not None:
            for name, argument in zip(module.init_params, call.args, strict=False):
                resolved = self._resolve(argument, {})
                if resolved is not None:
                    bound[name] = resolved
            for keyword in call.keywords:
                resolved = self._resolve(keyword.value, {}) if keyword.arg else None
                if resolved is not None:
                    bound[keyword.arg] = resolved
        return bound

    def _resolve(self, node: ast.expr, bindings: dict[str, str]) -> str | None:
        """`node` as contract code: parameters replaced by their values, the program's constants read from it."""
        resolvable = True

        class Replace(ast.NodeTransformer):
            def visit_Name(inner, name: ast.Name) -> ast.AST:  # noqa: N805 - the outer self is the writer
                nonlocal resolvable
                if name.id in bindings:
                    return ast.parse(bindings[name.id], mode="eval").body
                if name.id in self.constants:
                    return ast.Attribute(
                        value=ast.Name(id="torch_program", ctx=ast.Load()), attr=name.id, ctx=ast.Load()
                    )
                resolvable = False
                return name

        replaced = Replace().visit(ast.parse(ast.unparse(node), mode="eval").body)
        return ast.unparse(replaced) if resolvable else None

    def _input(self, module: _ModuleClass) -> tuple[str, str]:
        """(the shape in words, the fixed-seed data call) for the module's first layer."""
        bindings = self._bindings(module)
        layer = next((layer for layer in module.layers if layer.kind not in PARAMETERLESS), None)
        size = self._constant_like("SIZE") or str(SPATIAL)
        length = self._constant_like("SEQ") or self._constant_like("LEN") or str(SEQUENCE)
        self.helpers.add("normal")
        if layer is None:
            return "unknown", f"normal(({BATCH}, 4), seed=1)"
        first = self._argument(layer.call, 0, ("in_features", "in_channels", "num_embeddings", "input_size",
                                                "normalized_shape"), bindings)  # fmt: skip
        width = first or "4"
        if layer.kind == "Conv2d":
            return "batch, channels, height, width", f"normal(({BATCH}, {width}, {size}, {size}), seed=1)"
        if layer.kind == "Conv1d":
            return "batch, channels, length", f"normal(({BATCH}, {width}, {length}), seed=1)"
        if layer.kind == "Embedding":
            self.helpers.add("integers")
            return "batch, length of token ids", f"integers(({BATCH}, {length}), high={width}, seed=1)"
        if layer.kind in ("LSTM", "GRU", "RNN"):
            batch_first = any(
                kw.arg == "batch_first" and isinstance(kw.value, ast.Constant) and kw.value.value is True
                for kw in layer.call.keywords
            )
            if batch_first:
                return "batch, time, features", f"normal(({BATCH}, {length}, {width}), seed=1)"
            return "time, batch, features", f"normal(({length}, {BATCH}, {width}), seed=1)"
        return "batch, features", f"normal(({BATCH}, {width}), seed=1)"

    def _argument(self, call: ast.Call, position: int, names: tuple[str, ...], bindings: dict[str, str]) -> str | None:
        node = call.args[position] if len(call.args) > position else None
        for keyword in call.keywords:
            if keyword.arg in names:
                node = keyword.value
        return self._resolve(node, bindings) if node is not None else None

    def _constant_like(self, word: str) -> str:
        name = next((name for name in sorted(self.constants) if word in name.upper()), "")
        return f"torch_program.{name}" if name else ""

    # --- behavioral ---

    def _behavioral(self) -> str:
        self.helpers |= {"assert_tracks", "todo"}
        step = next((node for node in self.functions if TRAINING_NAME.search(node.name)), None)
        optimizer = _optimizer_line(self.tree)
        lines = [
            "def behavioral(torch_program, jax_program):",
            '    """A short training run from identical parameters and data on both sides, compared step by step."""',
            "    # The PyTorch side, for example:",
        ]
        if self.modules:
            lines.append(f"    #     model = {_builder_name(self.modules[0].node.name)}(torch_program)")
        if optimizer:
            lines.append(f"    #     {optimizer}")
        if step is not None:
            arguments = ", ".join(_positional(step))
            lines.append(f"    #     expected = [torch_program.{step.name}({arguments}) for _ in range(STEPS)]")
        lines.append("    # then the JAX side from the same parameters and data, and")
        lines.append('    #     assert_tracks("training loss", got, expected, rtol=TRAINING_RTOL, atol=TRAINING_ATOL)')
        todo = self.todo("the training run on both sides: STEPS steps from identical parameters and data")
        lines.append(f"    todo({todo!r})")
        return "\n".join(lines) + "\n"


_SPEC = """def spec(torch_program, jax_program):
    check_interface(jax_program, INTERFACE)"""


# --- reading the program ---------------------------------------------------------------------------------------


def _positional(function: ast.FunctionDef) -> list[str]:
    return [arg.arg for arg in function.args.posonlyargs + function.args.args]


def _is_module(node: ast.ClassDef) -> bool:
    return any(dotted_name(base).rsplit(".", 1)[-1] == "Module" for base in node.bases)


def _module_class(node: ast.ClassDef) -> _ModuleClass:
    init = next((item for item in node.body if isinstance(item, ast.FunctionDef) and item.name == "__init__"), None)
    params, defaults, layers = [], {}, []
    if init is not None:
        params = [arg.arg for arg in init.args.args[1:]]
        for name, default in zip(reversed(params), reversed(init.args.defaults), strict=False):
            defaults[name] = default
        for statement in ast.walk(init):
            if not (isinstance(statement, ast.Assign) and isinstance(statement.value, ast.Call)):
                continue
            target = statement.targets[0]
            kind = dotted_name(statement.value.func).rsplit(".", 1)[-1]
            if _is_self_attribute(target) and kind[:1].isupper() and kind not in PARAMETERLESS:
                layers.append(_Layer(attribute=target.attr, kind=kind, call=statement.value))
    return _ModuleClass(node=node, init_params=params, init_defaults=defaults, layers=layers)


def _is_self_attribute(node: ast.AST) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self"


def _first_call(tree: ast.Module, name: str) -> ast.Call | None:
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and dotted_name(node.func) == name]
    return min(calls, key=lambda node: node.lineno) if calls else None


def _optimizer_line(tree: ast.Module) -> str:
    """The program's optimizer construction (e.g. `optimizer = torch.optim.SGD(model.parameters(), lr=0.1)`)."""
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call)
            and "optim" in dotted_name(node.value.func)
        ):
            return " ".join(ast.unparse(node).split())
    return ""


def _runs_at_import(tree: ast.Module) -> bool:
    """Whether module-level code does work when imported: loops, or calls as statements (print, training)."""
    for node in tree.body:
        if isinstance(node, ast.For | ast.While | ast.With):
            return True
        if isinstance(node, ast.Expr) and not isinstance(node.value, ast.Constant):
            return True
    return False


def _builder_name(class_name: str) -> str:
    """SmallCNN -> _small_cnn: the contract's function that builds the PyTorch module."""
    return "_" + re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", class_name).lower()
