"""Every import in the package points one way along the data flow, and no module imports itself back.

golden -> systems (with llm, retrieval, finetune beneath) -> runner -> metrics -> store -> stats ->
gates -> report, with evaluate and the CLI on top.  A module may import a module of a *lower* layer,
or one of its own package; nothing imports up.  Every import counts, including those under
``TYPE_CHECKING`` and inside functions: Python does not see those at import time, a reader does.
The layers are drawn in ARCHITECTURE.md.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "ragft_eval"

# (layer, units): a unit is a top-level module or subpackage of ragft_eval
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("records", "hashing", "exit_codes", "resample", "registry", "secrets", "config_files"),
    ("answers",),
    ("facts",),
    ("golden",),
    ("llm", "retrieval", "prompts"),
    ("judges", "finetune"),
    ("systems",),
    ("runner",),
    ("metrics",),
    ("store",),
    ("stats",),
    ("gates",),
    ("report",),
    ("evaluate", "dry_run"),
    ("cli", "pytest_plugin"),
    ("__main__", "__init__"),
]
RANK = {unit: rank for rank, units in enumerate(LAYERS) for unit in units}


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every ragft_eval import in ``path``, wherever it sits."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "ragft_eval"]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "ragft_eval":
                continue
            # ``from . import prompts``: the names may be submodules
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                is_module = (PACKAGE.parent / Path(*sub.split("."))).with_suffix(".py").exists() or (
                    PACKAGE.parent / Path(*sub.split(".")) / "__init__.py"
                ).exists()
                out.append((node.lineno, sub if is_module else target))
    return out


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _graph() -> dict[str, list[tuple[int, str]]]:
    return {_module_name(p): _imports(p) for p in sorted(PACKAGE.rglob("*.py"))}


def test_every_unit_has_a_layer():
    units = {_unit(m) for m in _graph()}
    assert units <= set(RANK), f"units without a layer (add them to LAYERS and ARCHITECTURE.md): {units - set(RANK)}"


def test_no_import_runs_back_up_the_flow():
    violations = []
    for module, imports in _graph().items():
        src = _unit(module)
        for line, target in imports:
            dst = _unit(target)
            if dst == src:
                continue
            if RANK[dst] >= RANK[src]:
                violations.append(f"{module}:{line} imports {target} ({src} is layer {RANK[src]}, {dst} {RANK[dst]})")
    assert violations == []


def test_the_package_has_no_import_cycle():
    graph = {m: {t for _, t in imports if t != m} for m, imports in _graph().items()}
    for m in list(graph):  # an import of a package also runs its __init__; a submodule import runs its parents
        graph[m] = {t for t in graph[m] if t in graph}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package's __init__ re-exporting its own submodules is not a cycle of design
            if len({_unit(c) for c in component}) > 1:
                cycles.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    assert cycles == []


def test_the_check_catches_a_back_arrow(tmp_path, monkeypatch):
    """The walker must see a function-level import that runs back up (so the test above can fail)."""
    fake = tmp_path / "ragft_eval" / "golden"
    fake.mkdir(parents=True)
    (tmp_path / "ragft_eval" / "__init__.py").write_text("")
    (tmp_path / "ragft_eval" / "runner").mkdir()
    (tmp_path / "ragft_eval" / "runner" / "__init__.py").write_text("")
    (fake / "__init__.py").write_text("def f():\n    from ..runner import plan\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["PACKAGE"]), "PACKAGE", tmp_path / "ragft_eval")
    imports = _imports(fake / "__init__.py")
    assert imports == [(2, "ragft_eval.runner")]
    assert RANK[_unit(imports[0][1])] > RANK["golden"]
