"""Generation: ``InterAnimatePipeline`` (diffusers), progressive latent fusion, outputs and provenance watermark.

Import the submodules directly (``interanimate.pipelines.pipeline``); this package imports nothing heavy.
"""
