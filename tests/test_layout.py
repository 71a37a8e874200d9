"""The package's shape: few top-level modules, imports that run one way, serving apart from training."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "pipeline"
# Serving loads a trained model and answers; it must not carry the code that trains one.
TRAINING_CODE = ("pipeline.training", "pipeline.gender.task", "pipeline.fake.task", "pipeline.stages")
# Imports run one way, down this list: a module may import its own layer and the layers below it, never above.
LAYERS = [
    ("pipeline.errors", "pipeline.io", "pipeline.parallel", "pipeline.project", "pipeline.config", "pipeline.docs"),
    ("pipeline.data",),
    ("pipeline.figures",),
    ("pipeline.faces",),
    ("pipeline.training",),
    ("pipeline.gender", "pipeline.features"),  # pipeline.features: the 0.1 alias of pipeline.gender.features
    ("pipeline.fake",),
    ("pipeline.evaluation",),
    ("pipeline.tracking",),
    ("pipeline.serving",),
    ("pipeline.stages", "pipeline.cli"),
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def imported(path: Path, known: set[str]) -> set[str]:
    """The pipeline modules a file imports anywhere (at the top or inside a function), relative ones resolved."""
    found: set[str] = set()
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base]).strip(".")
            names = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        found |= {name for name in names if name in known}
    return found


@functools.cache
def import_graph() -> dict[str, set[str]]:
    known = set(modules())
    return {name: imported(path, known) - {name} for name, path in modules().items()}


def reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected group of modules (Tarjan), each as a list of module names."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_top_level_holds_at_most_eight_modules_besides_the_subpackages():
    top = sorted(path.stem for path in PACKAGE.glob("*.py") if path.name != "__init__.py")
    assert len(top) <= 8, top


def test_no_import_cycle_among_the_package_modules():
    assert cycles(import_graph()) == []


def layer(module: str) -> int:
    """The layer of a module: the deepest LAYERS entry naming it or a package above it (the package itself: -1)."""
    for rank, names in enumerate(LAYERS):
        if any(module == name or module.startswith(name + ".") for name in names):
            return rank
    assert module == "pipeline", f"{module} is in no layer of LAYERS"
    return -1


def upward_imports(graph: dict[str, set[str]]) -> list[str]:
    return sorted(
        f"{source} (layer {layer(source)}) imports {target} (layer {layer(target)})"
        for source, targets in graph.items()
        for target in targets
        if layer(target) > layer(source) and not target.startswith(source + ".")  # a package's own modules
    )


def test_imports_run_one_way_down_the_layers():
    assert upward_imports(import_graph()) == []


def test_an_upward_import_is_reported():
    graph = {"pipeline.data.images": {"pipeline.faces.crops"}, "pipeline.faces.crops": {"pipeline.data.images"}}
    assert upward_imports(graph) == ["pipeline.data.images (layer 1) imports pipeline.faces.crops (layer 3)"]


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


@pytest.mark.parametrize("module", sorted(name for name in modules() if name.startswith("pipeline.serving")))
def test_serving_never_reaches_training_code(module):
    graph = import_graph()
    reached = reachable(graph, module) | {module}
    assert not {name for name in reached if name.startswith(TRAINING_CODE)}, module


def test_every_subpackage_names_its_public_modules():
    for init in PACKAGE.glob("*/__init__.py"):
        tree = ast.parse(init.read_text(encoding="utf-8"))
        names = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets)
        ]
        assert names, f"{init.parent.name}/__init__.py has no __all__"
