"""The package's import graph: no circles anywhere, and in the core every arrow points down.

Every import counts, also those inside functions and under ``TYPE_CHECKING``: a
circle that only type checkers see still ties two modules into one.
"""

from __future__ import annotations

import ast
from pathlib import Path

from reference_data import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "glide_studio"

CORE_LAYERS = {
    "imaging": 0,
    "generation": 1,
    "editing": 2,
    "text": 2,
    "diffusion": 2,
    "model": 3,
    "weights": 4,
    "pipeline": 5,
    "runtime": 6,
    "remote": 6,
    "training": 6,
    "backends": 7,
}
"""Each core package may import only packages of a lower rank (and itself). The bottom
holds plain data without torch (files, requests, events, the backend's description);
``backends`` is the one place that knows both the local and the remote backend."""


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PROJECT_ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every glide_studio module ``path`` imports (the deepest existing module of each name)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for target in targets:
            if target.startswith("glide_studio"):
                found.add(target)
    modules = {_module_name(p) for p in PACKAGE.rglob("*.py")}
    resolved = set()
    for target in found:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target != name:
            resolved.add(target)
    return resolved


def _graph() -> dict[str, set[str]]:
    graph = {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}
    # A package's __init__ is imported on the way to its modules; an arrow to it is not a
    # dependency on its modules, so packages that only re-export nothing are left as nodes.
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_itself_in_a_circle():
    assert _cycles(_graph()) == []


def test_the_circle_finder_finds_circles():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def _core_package(module: str) -> str | None:
    parts = module.split(".")
    if len(parts) < 3 or parts[:2] != ["glide_studio", "core"]:
        return None
    return parts[2]


def test_every_core_arrow_points_down():
    wrong = []
    for module, targets in _graph().items():
        source = _core_package(module)
        if source is None:
            continue
        assert source in CORE_LAYERS, f"{module}: give core.{source} a layer in CORE_LAYERS"
        for target in targets:
            if target.startswith(("glide_studio.qt", "glide_studio.commands", "glide_studio.serve")):
                wrong.append(f"{module} -> {target} (a caller)")
                continue
            other = _core_package(target)
            if other is None or other == source:
                continue
            if CORE_LAYERS[other] >= CORE_LAYERS[source]:
                wrong.append(f"{module} -> {target}")
    assert wrong == []


def test_callers_reach_the_models_only_through_the_backend():
    """The window, the commands and the server never import the pipeline or the model code;
    they get a backend from ``core.backends`` (the server's replica loads a local one)."""
    allowed = {"glide_studio.serve.service": {"glide_studio.core.runtime.engine"}}
    wrong = []
    for module, targets in _graph().items():
        if not module.startswith(("glide_studio.qt", "glide_studio.commands", "glide_studio.serve")):
            continue
        if module in ("glide_studio.commands.train",):  # training builds models by design
            continue
        for target in targets:
            inner = target.startswith(("glide_studio.core.pipeline", "glide_studio.core.model"))
            local = target == "glide_studio.core.runtime.engine"
            if (inner or local) and target not in allowed.get(module, set()):
                wrong.append(f"{module} -> {target}")
    assert wrong == []
