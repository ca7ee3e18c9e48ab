"""Generation: ``InterAnimatePipeline`` (diffusers), progressive latent fusion, outputs and provenance watermark.

Import the submodules directly (``interanimate.pipelines.pipeline``); this package imports nothing heavy.
"""

from pathlib import Path


def bundled_model_dir() -> Path:
    """Folder of the animation model that ships with the package (``interanimate/assets/animate-small``)."""
    from importlib import resources

    return Path(str(resources.files("interanimate") / "assets" / "animate-small"))
