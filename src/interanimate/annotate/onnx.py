"""Loading user-given ONNX models with errors that name the file and what was expected."""

from __future__ import annotations

import os
from pathlib import Path

from interanimate.errors import UserError


def load_session(path: str | os.PathLike, what: str, threads: int = 1):
    """An onnxruntime CPU session for ``path``; ``UserError`` when the file is missing or not a loadable ONNX model."""
    import onnxruntime as ort

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{what} not found: {path}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    except Exception as err:  # onnxruntime raises several private exception types for bad files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"{path}: cannot load the {what} ({first[:200]})") from None
