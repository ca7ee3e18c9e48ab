"""The dataset engine: labelled, identity-disjoint sets of synthetic hand-face interaction videos, planned from a
recipe (``recipe.py``), generated clip by clip with resume (``engine.py``, ``ray_engine.py``), labelled
(``labels.py``, manifests in ``engine.py``), reported (``report.py``) and verified (``verify.py``); ``torch_dataset.py`` reads a
finished set back for training a detector. Import the submodules directly; this package imports nothing heavy.
"""
