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


@pytest.fixture(scope="session")
def tiny_wan_pipeline():
    """``build(size, segment_frames=5, overlap_frames=1)``: a random tiny InterAnimateWanPipeline (the
    ``wan-animate-tiny`` transformer, with its region branches' outputs randomised so that they act, a small Wan VAE,
    a 1-layer CLIP tower) standing in for a trained Wan model."""
    def build(size: int, segment_frames: int = 5, overlap_frames: int = 1):
        import torch
        from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler

        from interanimate.models.first_stage import build_small_image_encoder
        from interanimate.models.wan_configs import build_wan
        from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline

        torch.manual_seed(0)
        transformer = build_wan("wan-animate-tiny").eval()
        with torch.no_grad():
            for block in transformer.region_blocks.values():
                torch.nn.init.normal_(block.proj_out.weight, std=0.2)
        vae = AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                               temperal_downsample=[False, True, True]).eval()
        encoder = build_small_image_encoder(32, 32, 1, 2, 32, 8).eval()
        pipe = InterAnimateWanPipeline(transformer, vae, encoder, FlowMatchEulerDiscreteScheduler(shift=3.0),
                                       prompt="a hand touches the face", segment_frames=segment_frames,
                                       overlap_frames=overlap_frames, height=size, width=size)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    return build


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
