"""Inference half of ``memory_plan.py``: the pipeline's component calls at full size (peak per call by the
fake-tensor tracer, FLOPs on the meta device), and the check of that tracer against measured CPU peaks."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from memory_tracing import SVD_CLIP, SVD_VAE, GiB, LiveMemory, reset_peak, rss_status, svd_models  # noqa: E402

PLAN = Path(__file__).resolve().parent / "memory_plan.py"  # runs the measured side in a fresh process
# The measuring processes' environment: glibc keeps freed blocks under its mmap threshold in the heap, where the next
# allocation reuses them unseen by the RSS; with the threshold at 16 KiB every tensor storage is its own mapping,
# returned to the system when freed, so the peak RSS follows the live tensors.
MEASURE_ENV = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "16384", "MALLOC_TRIM_THRESHOLD_": "0"}


def inference_calls(size: tuple[int, int], frames: int, chunk: int, dtype: torch.dtype, device: str, mode=None,
                    unet_kwargs: dict | None = None):
    """The pipeline's component calls at inference (CLIP on the reference, VAE encode of the reference, one UNet
    pass with every module, VAE decode of ``chunk`` frames) as {name: (module, call)}. Models: fake (``mode``), on the
    meta device (``device="meta"``), or real with random weights (``device="cpu"``); the UNet of ``unet_kwargs``
    (default svd-xt's)."""
    from interanimate.models.first_stage import encode_image

    h, w = size
    kwargs = unet_kwargs or _svd_xt_kwargs()
    if mode:
        models = svd_models(dict(kwargs), dtype, dtype, mode)
    elif device == "meta":
        models = _meta_models()
    else:
        models = _real_models(kwargs, dtype)
    unet, vae, clip = models
    unet.eval()
    context = mode if mode else torch.device(device)
    with context:
        z = dict(dtype=dtype)
        ref, sample = torch.zeros(1, 3, h, w, **z), torch.zeros(1, frames, 8, h // 8, w // 8, **z)
        extra = dict(pose_frames=torch.zeros(1, frames, 3, h, w, **z), hand_mask=torch.zeros(1, frames, 1, h, w, **z),
                     face_mask=torch.zeros(1, frames, 1, h, w, **z), id_embedding=torch.zeros(1, 512, **z))
        cond = (torch.zeros(1, **z), torch.zeros(1, 1, 1024, **z), torch.zeros(1, 3, **z))
        latents = torch.zeros(chunk, 4, h // 8, w // 8, **z)
    no_pose = {k: v for k, v in extra.items() if k != "pose_frames"}
    return {"image encoder": (clip, lambda: encode_image(clip, ref, SVD_CLIP["image_size"])),
            "VAE encode (reference)": (vae, lambda: vae.encode(ref).latent_dist.mode()),
            "UNet pass (conditional)": (unet, lambda: unet(sample, *cond, **extra).sample),
            "UNet pass (unconditional)": (unet, lambda: unet(sample, *cond, **no_pose).sample),
            f"VAE decode ({chunk} frames)": (vae, lambda: vae.decode(latents, num_frames=chunk).sample)}


def _svd_xt_kwargs() -> dict:
    from interanimate.models import get_model_config
    return get_model_config("svd-xt").to_kwargs()


def _meta_models():
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from interanimate.models import InterAnimateUNet

    with torch.device("meta"):
        models = (InterAnimateUNet(**_svd_xt_kwargs()), AutoencoderKLTemporalDecoder(**SVD_VAE).eval(),
                  CLIPVisionModelWithProjection(CLIPVisionConfig(**SVD_CLIP)).eval())
    return [m.to("meta") for m in models]  # AlphaBlender's torch.Tensor([alpha]) ignores the device context


def _real_models(unet_kwargs: dict, dtype: torch.dtype):
    from diffusers import AutoencoderKLTemporalDecoder
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from interanimate.models import InterAnimateUNet

    torch.manual_seed(0)
    models = (InterAnimateUNet(**unet_kwargs), AutoencoderKLTemporalDecoder(**SVD_VAE),
              CLIPVisionModelWithProjection(CLIPVisionConfig(**SVD_CLIP)))
    return [m.to(dtype).requires_grad_(False).eval() for m in models]


def traced_inference_peaks(size, frames, chunk, dtype, unet_kwargs=None) -> dict[str, tuple[int, int]]:
    """{component call: (its weights' bytes, the traced peak of live storages during the call, weights included)}."""
    peaks = {}
    for name, (module, call) in inference_calls(size, frames, chunk, dtype, "cpu",
                                                FakeTensorMode(allow_non_fake_inputs=True), unet_kwargs).items():
        memory = LiveMemory()
        memory.track("weights", module.parameters())
        with memory, torch.no_grad():
            call()
        peaks[name] = (sum(p.nbytes for p in module.parameters()), sum(memory.peak.values()))
    return peaks


def inference_table(size: tuple[int, int], frames: int, steps: int, chunk: int) -> list[str]:
    """Peak per component call (fake tensors, fp16) and FLOPs (meta device, where attention is counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    peaks = traced_inference_peaks(size, frames, chunk, torch.float16)
    flops = {}
    for name, (_, call) in inference_calls(size, frames, chunk, torch.float32, "meta").items():
        with FlopCounterMode(display=False) as counter, torch.no_grad():
            call()
        flops[name] = counter.get_total_flops()
    weights = sum(wb for n, (wb, _) in peaks.items() if n in ("image encoder", "VAE encode (reference)",
                                                                  "UNet pass (conditional)"))
    decodes = -(-frames // chunk)
    clip_flops = sum(steps * v if k.startswith("UNet") else decodes * v if k.startswith("VAE decode") else v
                     for k, v in flops.items())
    rows = [f"inference: {frames}×{size[0]}×{size[1]}, fp16, {steps} Euler steps with CFG (the conditional and the "
            f"unconditional UNet pass one after the other), VAE decode {chunk} frames at a time",
            f"{'component call':<30}{'weights GiB':>12}{'peak GiB':>10}{'TFLOP/call':>12}"]
    rows += [f"{n:<30}{wb / GiB:>12.2f}{pk / GiB:>10.2f}{flops[n] / 1e12:>12.2f}" for n, (wb, pk) in peaks.items()]
    rows += [f"peak with model CPU offload (pipe.enable_model_cpu_offload(): one component on the GPU at a time): "
             f"{max(pk for _, pk in peaks.values()) / GiB:.2f} GiB",
             f"peak with all weights resident ({weights / GiB:.2f} GiB): "
             f"{(weights + max(pk - wb for wb, pk in peaks.values())) / GiB:.2f} GiB",
             f"one clip: {steps} × 2 UNet passes + CLIP + VAE encode + {decodes} decode calls = "
             f"{clip_flops / 1e12:,.0f} TFLOP"]
    return rows


def check_unet_kwargs() -> dict:
    """The ``small`` UNet with every module and the svd-xt UNet's condition widths (CLIP 1024, ArcFace 512)."""
    from interanimate.models import get_model_config
    return {**get_model_config("small").to_kwargs(), "cross_attention_dim": 1024, "id_embed_dim": 512}


def inference_check(size: tuple[int, int], frames: int, chunk: int) -> list[str]:
    """The inference tracer against a measurement of the same calls: each component call of ``inference_calls``
    with the small UNet (every module) and SVD's VAE and CLIP, fp32, on this CPU. Estimated: the traced peak above
    the call's weights. Measured, in a fresh process with real tensors: peak RSS above the RSS before the call."""
    kwargs = check_unet_kwargs()
    est = {n: pk - wb for n, (wb, pk) in traced_inference_peaks(size, frames, chunk, torch.float32, kwargs).items()}
    out = subprocess.run([sys.executable, str(PLAN), "--measure-inference", f"{size[0]}x{size[1]}", "--frames",
                          str(frames), "--decode-chunk", str(chunk)], capture_output=True, text=True, check=True,
                         env=MEASURE_ENV)
    measured = json.loads(out.stdout.strip().splitlines()[-1])
    rows = [f"inference check: {frames}×{size[0]}×{size[1]}, small UNet with every module + SVD's VAE and CLIP, "
            "fp32 on this CPU, each component call once",
            f"  {'component call':<30}{'estimated GiB':>14}{'measured GiB':>14}{'difference':>12}"]
    for name, value in est.items():
        rows.append(f"  {name:<30}{value / GiB:>14.3f}{measured[name] / GiB:>14.3f}"
                    f"{100 * (measured[name] / value - 1):>+11.1f}%")
    worst = max(est, key=lambda n: est[n])
    rows.append(f"  largest call ({worst}): estimated {est[worst] / GiB:.3f} GiB, measured "
                f"{measured[worst] / GiB:.3f} GiB ({100 * (measured[worst] / est[worst] - 1):+.1f}%)")
    return rows


def measure_inference(size: tuple[int, int], frames: int, chunk: int) -> dict[str, int]:
    """``inference_check``'s calls with real (random) tensors: {call: peak RSS above the RSS before it, bytes}."""
    result = {}
    for name, (_, call) in inference_calls(size, frames, chunk, torch.float32, "cpu",
                                           unet_kwargs=check_unet_kwargs()).items():
        with torch.no_grad():
            call()  # once to warm up (lazy initialisations, allocator pools)
            gc.collect()
            before = reset_peak()
            call()
        result[name] = rss_status("VmHWM") - before
    return result
