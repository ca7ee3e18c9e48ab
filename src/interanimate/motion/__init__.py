"""Interaction motion generator (InterMask-style): class or text -> hand + face keypoint motion, and reaction
generation. See ``docs/motion.md``.

Modules: ``representation`` (face-centred frame, features, parts, mirroring), ``data`` (motion windows of an InterHF
root), ``vqvae`` (party VQ-VAEs), ``transformer`` (collaborative masked transformer), ``masking``, ``sampling``,
``text`` (MiniLM + explicit side/class parsing), ``model`` (the saved bundle), ``evaluator`` (recognition model and
metrics), ``evaluation`` (the protocol), ``train``, ``export`` (DWPose npz), ``preview``.
"""
