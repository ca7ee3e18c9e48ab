"""Package layering: the inference side (``interanimate.pipelines``) does not depend on the training side."""

import ast
import subprocess
import sys
from pathlib import Path

import interanimate

PACKAGE = Path(interanimate.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at top level or inside functions (absolute names)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_nothing_in_pipelines_imports_training():
    offenders = {f"{path.relative_to(PACKAGE)}: {name}" for path in (PACKAGE / "pipelines").rglob("*.py")
                 for name in _imported_modules(path) if name.startswith("interanimate.training")}
    assert not offenders, sorted(offenders)


def test_loading_and_running_a_pipeline_loads_no_training_module(tmp_path):
    """At run time too: load the bundled model, animate two frames; no ``interanimate.training`` module appears."""
    code = (
        "import sys, torch\n"
        "from interanimate.pipelines import bundled_model_dir\n"
        "from interanimate.pipelines.pipeline import InterAnimatePipeline\n"
        "pipe = InterAnimatePipeline.from_pretrained(bundled_model_dir())\n"
        "pipe.set_progress_bar_config(disable=True)\n"
        "size = pipe.vae.config.sample_size\n"
        "channels = 3 + pipe.unet.config.get('hand_map_channels', 0)\n"
        "pipe(torch.zeros(1, 3, size, size), torch.zeros(1, 2, channels, size, size), num_inference_steps=1)\n"
        "print(sorted(m for m in sys.modules if m.startswith('interanimate.training')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict[str, set[str]]:
    """Module -> the package modules it imports (at top level or inside functions); ``from a import b`` counts as
    importing ``a.b`` when that is a module, else ``a``."""
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names if a.name in files)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0 and node.module in files:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(files)
                edges.update(subs or {node.module})
                if len(subs) < len(node.names):
                    edges.add(node.module)
        graph[name] = edges - {name}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
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
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(10000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles_between_modules():
    """Leaf to root: no module imports (even lazily, inside a function) a module that imports it back. A package's
    ``__init__`` re-exporting its submodules is not an edge to them from the submodules."""
    graph = import_graph()
    packages = {n for n in graph if (PACKAGE.parent / n.replace(".", "/") / "__init__.py").is_file()}
    # a submodule importing its own package's __init__ (for re-exported names) and that __init__ importing the
    # submodule is Python's normal package layout, not a cycle between modules
    trimmed = {n: {e for e in edges if not (e in packages and n.startswith(e + "."))} for n, edges in graph.items()}
    assert _cycles(trimmed) == []
