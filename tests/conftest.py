"""Suite-wide test settings: offline, deterministic, CPU."""

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

import pytest  # noqa: E402


@pytest.fixture(scope="session")
def save_tiny_pipeline():
    """``save(folder, size)``: a random tiny InterAnimate pipeline (diffusers layout) standing in for a real model —
    a 4-level small VAE, a 1-layer CLIP tower and the ``tiny`` UNet taking 128-d identity vectors."""
    def save(folder, size: int):
        import torch
        from diffusers import EulerDiscreteScheduler

        from interanimate.models import build_unet
        from interanimate.pipelines.pipeline import InterAnimatePipeline, svd_scheduler_config
        from interanimate.models.first_stage import build_small_image_encoder, build_small_vae

        torch.manual_seed(0)
        pipe = InterAnimatePipeline(build_small_vae((32, 32, 32, 32), sample_size=size),
                                    build_small_image_encoder(32, hidden_size=32, num_hidden_layers=1,
                                                              num_attention_heads=2, image_size=size, patch_size=8),
                                    build_unet("tiny", id_embed_dim=128),
                                    EulerDiscreteScheduler(**svd_scheduler_config()))
        pipe.save_pretrained(folder)
        return folder

    return save

def _huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG of a few bytes whose header says ``width`` × ``height`` (a decompression bomb's header: the data need
    not be there, nothing may decode it)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    data = zlib.compress(b"\x00" * (1 + 3 * 64))  # one row's worth: the rest is missing
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="session")
def huge_png():
    """``huge_png(path, width, height)``: a tiny PNG file whose header claims ``width`` × ``height`` pixels."""
    return _huge_png
