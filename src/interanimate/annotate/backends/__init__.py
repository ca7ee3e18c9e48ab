"""Pose-backend registry: ``register_backend(name, factory)`` and ``get_backend(name, **kwargs)``.

Built in: ``mediapipe`` (offline default, bundled models) and ``dwpose`` (ONNX pair from a user-given folder,
``get_backend("dwpose", model_dir=...)``). Tests and users register their own (e.g. a stub returning known poses).
"""

from __future__ import annotations

from typing import Callable

from interanimate.annotate.backends.base import PoseBackend, check_frame, check_pose  # noqa: F401
from interanimate.errors import UserError

_FACTORIES: dict[str, Callable[..., PoseBackend]] = {}


def register_backend(name: str, factory: Callable[..., PoseBackend]) -> None:
    """Make ``get_backend(name, **kwargs)`` call ``factory(**kwargs)``; re-registering a name replaces it."""
    _FACTORIES[name] = factory


def available_backends() -> list[str]:
    return sorted(_FACTORIES)


def get_backend(name: str, **kwargs) -> PoseBackend:
    if name not in _FACTORIES:
        raise UserError(f"unknown pose backend {name!r}; available: {', '.join(available_backends())}")
    return _FACTORIES[name](**kwargs)


def _mediapipe(**kwargs) -> PoseBackend:
    from interanimate.annotate.backends.mediapipe_backend import MediaPipeBackend

    return MediaPipeBackend(**kwargs)


def _dwpose(**kwargs) -> PoseBackend:
    from interanimate.annotate.backends.dwpose import DWPoseBackend

    return DWPoseBackend(**kwargs)


register_backend("mediapipe", _mediapipe)
register_backend("dwpose", _dwpose)


def backend_for(name: str, dwpose_dir=None, static: bool = True) -> PoseBackend:
    """The pose backend the CLI options name: mediapipe (``static``: single images, else video tracking), dwpose
    (from ``dwpose_dir``), or a registered name."""
    if name == "dwpose":
        return get_backend("dwpose", model_dir=dwpose_dir)
    if name == "mediapipe":
        return get_backend("mediapipe", static_image_mode=static)
    return get_backend(name)
