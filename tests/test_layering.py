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
