"""The layout's rules (docs/architecture.md), checked on the source: no import circle in the library or the
command line; the library never imports the command line; each model's Hub files import torch, transformers and
their own folder only; no library function runs over about 50 lines without the reason written on its line."""

import ast
import sys
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("hf_attn_seq2seq", "training")
LONG_FUNCTION_LINES = 50
HUB_FILE_LIBRARIES = {"torch", "transformers", "numpy", "packaging", "safetensors"}  # what transformers brings


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[module_name(path)] = path
    return found


def imported_modules(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package modules `name` imports, anywhere in the file (inside functions too), resolved to known modules."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base
                                                                                                     else []))
            candidates = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for candidate in candidates:
            while candidate and candidate not in known:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
    return targets


def import_graph() -> dict[str, set[str]]:
    known = modules()
    return {name: imported_modules(name, path, known) for name, path in known.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state:
                cycle = visit(target)
                if cycle:
                    return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_no_import_circle_in_the_library_or_the_command_line():
    graph = import_graph()
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_the_finder_sees_a_circle_where_there_is_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_the_library_never_imports_the_command_line():
    for name, targets in import_graph().items():
        if name.startswith("hf_attn_seq2seq"):
            assert not [target for target in targets if target.startswith("training")], name


@pytest.mark.parametrize("folder", ["attn_seq2seq", "ntm"])
def test_each_models_hub_files_import_torch_transformers_and_their_own_folder_only(folder):
    for path in sorted((ROOT / "hf_attn_seq2seq" / "models" / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.level == 1, f"{path.name} reaches out of its folder"
                continue
            names = [alias.name for alias in node.names] if isinstance(node, ast.Import) else (
                [node.module] if isinstance(node, ast.ImportFrom) else [])
            for imported in names:
                top = imported.split(".")[0]
                assert top in sys.stdlib_module_names or top in HUB_FILE_LIBRARIES, f"{path.name} imports {imported}"


def test_no_library_function_runs_long_without_a_reason():
    long = []
    for name, path in modules().items():
        if not name.startswith("hf_attn_seq2seq"):
            continue
        lines = path.read_text(encoding="utf-8").splitlines()
        for node in ast.walk(ast.parse("\n".join(lines))):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            length = body[-1].end_lineno - body[0].lineno + 1 if body else 0
            signature_end = body[0].lineno - 1 if body else node.lineno
            if length > LONG_FUNCTION_LINES and not any("# long:" in line
                                                        for line in lines[node.lineno - 1 : signature_end]):
                long.append(f"{name}.{node.name} ({length} lines)")
    assert not long, long
