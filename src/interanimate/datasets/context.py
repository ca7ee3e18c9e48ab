"""What a dataset worker needs besides its plan rows: the :class:`Context` shared by all its clips (as plain data for
another process: Ray actors, local worker processes) and where it runs the video model."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from interanimate.datasets.recipe import DatasetRecipe


@dataclass
class Context:
    """What a clip needs besides its row (shared by all clips of one worker)."""
    recipe: DatasetRecipe
    out: Path
    model_dir: Path
    model_name: str
    model_sha256: str
    generator_version: str


def context_payload(context: Context) -> dict:
    """A :class:`Context` as plain data for another process (Ray actors, local worker processes)."""
    from dataclasses import asdict

    payload = asdict(context)
    payload["recipe"] = context.recipe.to_dict()
    payload["out"], payload["model_dir"] = str(context.out), str(context.model_dir)
    return payload


def context_from_payload(payload: dict) -> Context:
    """The inverse of :func:`context_payload`."""
    from interanimate.datasets.recipe import recipe_from_dict

    payload = dict(payload)
    payload["recipe"] = recipe_from_dict(payload["recipe"])
    payload["out"], payload["model_dir"] = Path(payload["out"]), Path(payload["model_dir"])
    return Context(**payload)


def recipe_placement(generation, device: str | None = None):
    """Where a worker runs the video model: the recipe's ``generation.device/dtype/offload/decode_chunk``, with
    ``device`` (a Ray worker given a GPU) instead of the recipe's device when set. UserError for a GPU option
    without a GPU."""
    from interanimate.pipelines.placement import resolve_placement

    return resolve_placement(device or generation.device, generation.dtype, generation.offload,
                             generation.decode_chunk, prefix="generation.")
