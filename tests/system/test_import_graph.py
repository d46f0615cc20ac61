"""The package layout is the architecture: no import cycles, and imports only go down the layers.

Every import counts, including ones inside functions and under TYPE_CHECKING: a lazy import
is still a dependency, and a cycle hidden in a function breaks the first time it is moved.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Final

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gitops_bot"

# Shared foundations every package may use; they import nothing of the bot's but each other.
FOUNDATIONS: Final = frozenset({"config", "policy", "logs"})

# package (or top-level module) -> the packages it may import, besides itself and FOUNDATIONS.
# Read bottom-up: contract <- store <- backends <- nix <- writer <- operator <- server <- cli.
LAYERS: Final[dict[str, frozenset[str]]] = {
    "policy": frozenset(),
    "logs": frozenset(),
    "config": frozenset({"policy"}),
    "contract": frozenset(),
    "store": frozenset({"contract"}),
    "backends": frozenset({"store", "contract"}),
    "nix": frozenset({"backends", "store", "contract"}),
    "writer": frozenset({"nix", "backends", "store", "contract"}),
    "web": frozenset({"store", "contract"}),
    "intake": frozenset({"web", "store", "contract"}),
    "github": frozenset({"intake", "web", "store", "contract"}),
    "deploy": frozenset({"github", "backends", "store", "contract"}),
    "operator": frozenset({"writer", "intake", "web", "backends", "store", "contract"}),
    "server": frozenset({"operator", "github", "intake", "web", "store", "contract"}),
    "cli": frozenset(
        {
            "server",
            "operator",
            "deploy",
            "github",
            "intake",
            "web",
            "writer",
            "nix",
            "backends",
            "store",
            "contract",
        }
    ),
    # `python -m gitops_bot`: the command line, nothing else.
    "__main__": frozenset({"cli"}),
}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES: Final = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(name: str) -> str | None:
    """The module `name` is, or is in: `gitops_bot.x.Y` (a class) resolves to `gitops_bot.x`."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str) -> set[str]:
    """Every bot module `module` imports, wherever in the file the import statement is."""
    path = MODULES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            # `from package import module` imports the module; `from module import name` the
            # module it is in.
            names = [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            if name == "gitops_bot" or name.startswith("gitops_bot."):
                target = _resolve(name)
                if target is not None and target != module:
                    found.add(target)
    return found


GRAPH: Final = {module: _imports(module) for module in MODULES}


def _layer(module: str) -> str | None:
    """`gitops_bot.store.queue` is in store; `gitops_bot.config` is its own; the root is None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else None


def _reachable(start: str) -> set[str]:
    seen: set[str] = set()
    todo = list(GRAPH[start])
    while todo:
        module = todo.pop()
        if module not in seen:
            seen.add(module)
            todo.extend(GRAPH[module])
    return seen


def _cycles() -> list[list[str]]:
    """Each set of modules that import each other, directly or through others."""
    reach = {module: _reachable(module) for module in GRAPH}
    found = {
        tuple(sorted({module} | {other for other in reach[module] if module in reach[other]}))
        for module in GRAPH
        if module in reach[module]
    }
    return [list(cycle) for cycle in sorted(found)]


def test_the_graph_sees_the_code():
    assert len(MODULES) > 40
    assert "gitops_bot.config" in GRAPH["gitops_bot.cli.serve"]


def test_no_module_import_cycles():
    assert _cycles() == []


def test_every_module_is_in_a_declared_layer():
    undeclared = sorted(
        module
        for module in MODULES
        if (layer := _layer(module)) is not None and layer not in LAYERS
    )
    assert undeclared == []


def test_the_declared_layers_form_no_cycle():
    def reaches(start: str, goal: str, seen: frozenset[str] = frozenset()) -> bool:
        return any(
            below == goal or (below not in seen and reaches(below, goal, seen | {below}))
            for below in LAYERS[start]
        )

    assert [layer for layer in LAYERS if reaches(layer, layer)] == []


def test_imports_follow_the_layers():
    wrong = []
    for module, targets in sorted(GRAPH.items()):
        layer = _layer(module)
        if layer not in LAYERS:
            continue
        allowed = LAYERS[layer] | {layer}
        if layer not in FOUNDATIONS:
            allowed |= FOUNDATIONS
        for target in sorted(targets):
            below = _layer(target)
            if below is not None and below not in allowed:
                wrong.append(f"{module} -> {target}")
    assert wrong == []
