"""Parameters and FLOPs that InterAnimate's modules add to the SVD-XT UNet (one UNet call, batch 1, 16 frames).

Runs on the meta device (no memory, no weights): shapes flow through every op and
``torch.utils.flop_counter.FlopCounterMode`` counts matmuls, convolutions and attention (PyTorch's CPU fused
attention kernel is not counted, the meta one is, so meta gives the honest figure).

    python benchmarks/model_overhead.py [--config svd-xt] [--frames 16] [--sizes 384x640 576x1024]
    python benchmarks/model_overhead.py --time   # also wall-clock and peak memory on a CUDA device (random weights)
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.utils.flop_counter import FlopCounterMode

from interanimate.models import build_unet, get_model_config, trainable_parameter_groups

VARIANTS = {  # name -> InterAnimate options; the baseline is the same model called with every branch off
    "InterAnimate (default)": {},
    "+ spatial self-attention": dict(spatial_self_attention=True),
}
BRANCH_INPUTS = {"pose": ("pose_frames",), "region (RIS)": ("hand_mask", "face_mask"), "ID": ("id_embedding",)}


def count_flops(model, inputs: dict, extra: dict) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(**inputs, **extra)
    return counter.get_total_flops()


def make_inputs(config_name: str, frames: int, height: int, width: int) -> tuple[dict, dict]:
    cfg = get_model_config(config_name)
    h, w = height // 8, width // 8
    meta = dict(device="meta")
    inputs = dict(sample=torch.empty(1, frames, cfg.unet["in_channels"], h, w, **meta),
                  timestep=torch.empty(1, **meta),
                  encoder_hidden_states=torch.empty(1, 1, cfg.unet["cross_attention_dim"], **meta),
                  added_time_ids=torch.empty(1, 3, **meta))
    extra = dict(pose_frames=torch.empty(1, frames, 3, height, width, **meta),
                 hand_mask=torch.empty(1, frames, 1, height, width, **meta),
                 face_mask=torch.empty(1, frames, 1, height, width, **meta),
                 id_embedding=torch.empty(1, cfg.interanimate["id_embed_dim"], **meta))
    return inputs, extra


def time_on_cuda(config_name: str, frames: int, sizes: list[str], repeats: int = 5) -> None:
    """fp16 forward wall-clock and peak memory with and without the modules, per size; random weights."""
    device = torch.device("cuda")
    torch.manual_seed(0)
    with device:
        model = build_unet(config_name)
    model.to(device)  # diffusers' AlphaBlender builds torch.Tensor([alpha]), which ignores the device context
    model.to(dtype=torch.float16).eval()
    for size in sizes:
        height, width = (int(v) for v in size.split("x"))
        inputs, extra = make_inputs(config_name, frames, height, width)
        inputs = {k: torch.randn(v.shape, device=device, dtype=torch.float16) for k, v in inputs.items()}
        inputs["timestep"] = torch.full((1,), 0.5, device=device, dtype=torch.float16)
        extra = {k: torch.rand(v.shape, device=device, dtype=torch.float16).round() if "mask" in k
                 else torch.randn(v.shape, device=device, dtype=torch.float16) for k, v in extra.items()}
        results = {}
        for label, kw in (("UNet only", {}), ("with modules", extra)):
            with torch.no_grad():
                out = model(**inputs, **kw).sample
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
                start = time.perf_counter()
                for _ in range(repeats):
                    out = model(**inputs, **kw).sample
                torch.cuda.synchronize()
            results[label] = ((time.perf_counter() - start) / repeats, torch.cuda.max_memory_allocated() / 2**30, out)
        diff = (results["with modules"][2].float() - results["UNet only"][2].float()).abs().max().item()
        print(f"[{torch.cuda.get_device_name()}] fp16 forward {frames}×{height}×{width}: "
              + ", ".join(f"{k} {t * 1e3:.0f} ms (peak {m:.1f} GiB)" for k, (t, m, _) in results.items())
              + f"; overhead {100 * (results['with modules'][0] / results['UNet only'][0] - 1):.1f}%; "
              f"max |diff| at init {diff:.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="svd-xt")
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--sizes", nargs="+", default=["384x640", "576x1024"])
    parser.add_argument("--time", action="store_true", help="also time fp16 forwards on a CUDA device")
    args = parser.parse_args()
    if args.time:
        time_on_cuda(args.config, args.frames, args.sizes)

    for variant, options in VARIANTS.items():
        with torch.device("meta"):
            model = build_unet(args.config, **options).eval()
        model.to("meta")  # AlphaBlender's torch.Tensor([alpha]) ignores the device context
        groups = trainable_parameter_groups(model)
        base_params = sum(p.numel() for p in groups.pop("unet"))
        added = {g: sum(p.numel() for p in ps) for g, ps in groups.items()}
        print(f"\n== {args.config}: {variant} ==")
        print(f"UNet parameters: {base_params / 1e6:,.1f} M; added: {sum(added.values()) / 1e6:,.2f} M "
              f"({100 * sum(added.values()) / base_params:.2f}%) = "
              + ", ".join(f"{g} {n / 1e6:.2f} M" for g, n in added.items()))
        for size in args.sizes:
            height, width = (int(v) for v in size.split("x"))
            inputs, extra = make_inputs(args.config, args.frames, height, width)
            base = count_flops(model, inputs, {})
            full = count_flops(model, inputs, extra)
            parts = {name: count_flops(model, inputs, {k: extra[k] for k in keys}) - base
                     for name, keys in BRANCH_INPUTS.items()}
            print(f"{args.frames}×{height}×{width}: UNet {base / 1e12:,.2f} TFLOP/call, with modules "
                  f"{full / 1e12:,.2f} TFLOP/call, overhead {100 * (full - base) / base:.2f}% ("
                  + ", ".join(f"{k} {100 * v / base:.2f}%" for k, v in parts.items()) + ")")


if __name__ == "__main__":
    main()
