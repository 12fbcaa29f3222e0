"""The package's import structure (docs/architecture.md): no loops, nothing imports up to the
package face, inference never imports training, the product never imports the dev tools."""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "analyzer"


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(REPO).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """Modules ``name`` imports anywhere in its body (function-level imports included)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:  # `from pkg import submodule` imports the submodule, not the face
                found.add(f"{target}.{alias.name}" if f"{target}.{alias.name}" in modules else target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_no_module_imports_up_to_the_package_face():
    offenders = sorted(name for name, targets in _graph().items() if name != "analyzer" and "analyzer" in targets)
    assert offenders == []  # the version comes from analyzer._version


def test_the_import_graph_has_no_loop():
    graph = {name: {t for t in targets if t in _modules() and not t.startswith(name + ".")}
             for name, targets in _graph().items()}
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done

    def visit(node: str, stack: list[str]) -> list[str] | None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                return stack + [target]
            if target not in state and (loop := visit(target, stack + [target])):
                return loop
        state[node] = 2
        return None

    loops = [loop for name in sorted(graph) if name not in state and (loop := visit(name, [name]))]
    assert loops == []


def test_inference_and_config_do_not_import_training_or_the_diarizer():
    graph = _graph()
    for name in ("analyzer.emotion.model", "analyzer.emotion.features", "analyzer.emotion.functionals",
                 "analyzer.emotion.scoring", "analyzer.emotion.net", "analyzer.emotion", "analyzer.emotion.encoder",
                 "analyzer.emotion.encoder_model"):
        assert not any(t.startswith("analyzer.emotion.train") for t in graph[name]), name
    assert not any(t.startswith("analyzer.diarize") for t in graph["analyzer.config"])


def test_the_product_never_imports_the_development_tools():
    assert not [name for name, targets in _graph().items() if any(t.split(".")[0] == "callsim" for t in targets)]
