"""Training: run configs (``config``), the small model's first stage (``first_stage``) and the trainer (``trainer``).

Import the submodules directly; this package imports nothing heavy.
"""
