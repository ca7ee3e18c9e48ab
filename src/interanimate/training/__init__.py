"""Training: run configs (``config``), the trainer (``trainer``) and its parts: the small model's first stage
(``first_stage``), the denoiser and image encoder a config names (``build``), the seeded data stream (``sampling``)
and the state a checkpoint carries (``state``: per-step generators, checkpoints, LR schedule, EMA).

Import the submodules directly; this package imports nothing heavy.
"""
