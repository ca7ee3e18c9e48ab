"""Shared pieces of the dataset-engine tests: a tiny pipeline folder and recipe files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from interanimate.config import set_dotted

SIZE = 32  # frames of 32×32: the smallest that carry the watermark with room to spare


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, save_tiny_pipeline) -> Path:
    """A random tiny pipeline standing in for the bundled model: seconds per clip."""
    return save_tiny_pipeline(tmp_path_factory.mktemp("tiny_model") / "tiny", SIZE)


def recipe_dict(model: Path, **changes) -> dict:
    """3 classes × 2 clips of 4 frames over 10 SynthHF identities, one sampler step, the tiny model."""
    recipe = {"name": "test", "classes": ["LH-NP", "RH-EB", "LR-FS"], "clips_per_class": 2, "frames": 4, "fps": 8,
              "seed": 3, "identities": {"synthhf": 10}, "splits": {"train": 0.6, "val": 0.2, "test": 0.2},
              "motion": {"source": "synthhf"}, "generation": {"model": str(model), "steps": 1, "guidance": 1.0},
              "outputs": {"preview": True}}
    for key, value in changes.items():
        set_dotted(recipe, key, value)
    return recipe


@pytest.fixture
def write_recipe(tmp_path, tiny_model):
    def write(name: str = "recipe.yaml", **changes) -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(recipe_dict(tiny_model, **changes)))
        return path

    return write


def files_of(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (relative path -> bytes), the engine's own logs of time left out."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "timings.jsonl"}


def manifest_rows(root: Path) -> list[dict]:
    return [json.loads(line) for line in (root / "manifest.jsonl").read_text().splitlines()]
