"""The package's layout (issue 11, item 8): the command line is one package with no import
cycle between its modules, and the row types live below both sweep/ and storage/."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bilancio"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when ``path`` is imported (statements at module level, not in functions)."""
    found: set[str] = set()
    tree = ast.parse(path.read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names}
    return found


def _graph() -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {m: _top_level_imports(p) & modules.keys() - {m} for m, p in modules.items()}


def test_the_command_line_is_one_package() -> None:
    assert (PACKAGE / "cli" / "__init__.py").exists()
    assert not list(PACKAGE.glob("*_cli.py")) and not (PACKAGE / "cli.py").exists()


def test_no_import_cycle_anywhere_in_the_package() -> None:
    graph = _graph()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                raise AssertionError(" -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])


def test_the_row_types_sit_below_sweep_and_storage() -> None:
    graph = _graph()
    assert not {
        m for m in graph["bilancio.rows"] if m.startswith(("bilancio.sweep", "bilancio.storage"))
    }
    for module, imports in graph.items():
        if module.startswith("bilancio.storage"):
            assert not {m for m in imports if m.startswith("bilancio.sweep")}, module
