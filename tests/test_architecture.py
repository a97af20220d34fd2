"""The package's import graph: no cycles (function-level and string-named imports included), and
the run layer never reaches the validation layer."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

PACKAGE = Path(__file__).resolve().parent.parent / "parallel_execution"


def _module_names() -> dict[str, Path]:
    names = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _imports(name: str, path: Path, modules: dict[str, Path]) -> tuple[set[str], set[str]]:
    """(every module ``name`` imports, the ones its top level imports), resolved to this package's
    modules. ``TYPE_CHECKING`` blocks never run and are left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    type_only: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            type_only.update(id(n) for child in node.body for n in ast.walk(child))
    top_level = {id(node) for node in tree.body}
    every: set[str] = set()
    at_top: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                       for alias in node.names]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            # "pkg.mod" or "pkg.mod:Class"; a bare package name is more often a label (an
            # entry-point group) than an import.
            module, colon, _ = node.value.partition(":")
            if colon or (module in modules and modules[module].name != "__init__.py"):
                targets = [module]
        found = {t for t in targets if t in modules and t != name}
        every |= found
        if id(node) in top_level:
            at_top |= found
    return every, at_top


def import_graph() -> nx.DiGraph:
    """module -> module it imports: every ``import``/``from`` at any depth (function-level too) and
    every string literal naming a module (``importlib.import_module("...")``, registries of
    ``"module:Class"``). ``from pkg import name`` imports ``pkg.name`` when that is a module, else
    ``pkg``. Importing ``a.b.c`` first runs the package ``a.b``'s top level, so it also imports what
    that top level imports - unless ``a.b`` encloses the importer, whose own packages ran before it
    did - and the root package, the public facade everyone imports first, is left out."""
    modules = _module_names()
    found = {name: _imports(name, path, modules) for name, path in modules.items()}
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, (every, _) in found.items():
        for target in every:
            graph.add_edge(name, target)
            parent = target.rpartition(".")[0]
            while parent.count(".") >= 1 and not name.startswith(parent + "."):
                graph.add_edges_from((name, t) for t in found[parent][1] if t != name)
                parent = parent.rpartition(".")[0]
    return graph


def test_the_graph_sees_lazy_and_string_imports():
    graph = import_graph()
    assert graph.has_edge("parallel_execution.commands.cli", "parallel_execution.commands.resume")  # by name
    assert graph.has_edge("parallel_execution.agents.registry", "parallel_execution.agents.claude")  # "mod:Class"
    assert graph.has_edge("parallel_execution.commands.run", "parallel_execution.commands.resume")  # in a function
    assert graph.number_of_edges() > 150


def test_no_module_imports_itself_through_others():
    cycles = list(nx.simple_cycles(import_graph()))
    assert cycles == [], "import cycles: " + "; ".join(" -> ".join(c) for c in cycles[:10])


def test_the_run_layer_never_reaches_validation():
    graph = import_graph()
    run_modules = [m for m in graph if m.startswith("parallel_execution.run.") or m == "parallel_execution.run"]
    assert "parallel_execution.run.scheduler" in run_modules
    for module in run_modules:
        reached = nx.descendants(graph, module)
        assert "parallel_execution.inputs.validate" not in reached, (
            module + " reaches inputs.validate via " + " -> ".join(
                nx.shortest_path(graph, module, "parallel_execution.inputs.validate")))


def test_cli_imports_no_subcommand_at_module_level():
    tree = ast.parse((PACKAGE / "commands" / "cli.py").read_text(encoding="utf-8"))
    top_level = {alias.name if isinstance(node, ast.Import) else node.module
                 for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for alias in node.names}
    assert top_level & {"parallel_execution.commands." + n for n in
                        ("run", "validate", "schema", "resume", "report", "traces", "plan", "install")} == set()
    assert not top_level & {"parallel_execution.dispatcher", "parallel_execution.run.scheduler"}


def test_validate_loads_neither_the_run_nor_its_displays(tmp_path):
    """Start-up (issue 17): ``validate`` needs the models and the planner, not the dispatcher, the
    containment set-up, the jq runner or the progress displays."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "t.json").write_text(json.dumps({"tasks": [{"task_id": "a", "agent": "echo"}]}))
    probe = ("import sys\nfrom parallel_execution.commands import cli\n"
             "code = cli.main(['validate', 't.json'])\nprint(code, sorted(sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(PACKAGE.parent)})
    code, _, loaded = out.stdout.strip().splitlines()[-1].partition(" ")
    assert code == "0"
    for module in ("parallel_execution.dispatcher", "parallel_execution.run.containment",
                   "parallel_execution.inputs.jqrun", "parallel_execution.views.progress", "ctypes"):
        assert repr(module) not in loaded, module
