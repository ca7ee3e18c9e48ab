"""Inference speed of the code path ``interanimate animate`` runs: seconds per denoising step, per clip, peak memory.

    python benchmarks/infer_speed.py                          # tiny and small, fp32 and bf16, on this machine
    python benchmarks/infer_speed.py --configs svd-xt --dtypes bf16 --offloads none,model   # on a GPU: 16×576×1024
    python benchmarks/infer_speed.py --configs svd-xt --size 576x1024 --frames 16 --steps 25   # any size, explicitly

Each run places a pipeline with ``interanimate.pipelines.placement.place`` (as ``animate --device --dtype --offload``
does) and generates with ``interanimate.pipelines.driving.animate_motion`` (the function ``animate`` calls: pose
frames and masks drawn from a SynthHF motion, the identity vector, CFG at guidance 2). Weights are random (speed
does not depend on them). A "denoising step" is the UNet work of one Euler step — the conditional and the
unconditional pass over every fused tile — timed with forward hooks on the UNet; a "clip" is the whole call. For
``svd-xt`` the same run also times the plain diffusers SVD UNet (no pose encoder, region attention or ID preserver)
and prints the ratio. On a GPU, ``--floor`` also counts the clip's FLOPs (``torch.utils.flop_counter``) and prints the
physical floor: those FLOPs at the GPU's dense bf16 peak (``PEAK_BF16``), and the fraction of it the run reaches.
On a CPU the svd-xt run is reduced (``CPU_REDUCED``) to prove the path, not to time it.
"""

from __future__ import annotations

import argparse
import gc
import json
import time

import torch

SIZES = {"tiny": (32, 32), "small": (64, 64), "svd-xt": (576, 1024)}
CPU_REDUCED = {"svd-xt": dict(size=(64, 64), frames=2, steps=2)}  # what a CPU runs unless told otherwise
FIRST_STAGE = {  # (vae block_out_channels, layers_per_block, image-encoder kwargs)
    "tiny": ((32, 32, 32, 32), 1, dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, image_size=32,
                                       patch_size=8)),
    "small": ((32, 64, 128, 128), 1, dict(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, image_size=64,
                                          patch_size=8)),
    # SVD-XT's own: AutoencoderKLTemporalDecoder (128, 256, 512, 512) ×2 layers; CLIP ViT-H/14 image tower
    "svd-xt": ((128, 256, 512, 512), 2, dict(hidden_size=1280, num_hidden_layers=32, num_attention_heads=16,
                                             image_size=224, patch_size=14)),
}


def build_pipeline(config: str, interanimate: bool, device: torch.device, dtype: torch.dtype, height: int):
    from diffusers import EulerDiscreteScheduler

    from interanimate.models import build_svd_unet, build_unet, get_model_config
    from interanimate.pipelines.pipeline import InterAnimatePipeline, svd_scheduler_config
    from interanimate.models.first_stage import build_small_image_encoder, build_small_vae

    torch.manual_seed(0)
    blocks, layers, enc = FIRST_STAGE[config]
    cross = get_model_config(config).unet["cross_attention_dim"]
    unet = build_unet(config) if interanimate else build_svd_unet(config)
    vae = build_small_vae(blocks, layers_per_block=layers, sample_size=height)
    encoder = build_small_image_encoder(cross, **enc)
    pipe = InterAnimatePipeline(vae, encoder, unet.eval(), EulerDiscreteScheduler(**svd_scheduler_config()))
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


PEAK_BF16 = {"H100 PCIe": 756e12, "H100": 989e12, "H200": 989e12, "A100": 312e12, "L40S": 362e12}  # dense FLOP/s


def peak_flops(name: str) -> float | None:
    for key, value in PEAK_BF16.items():  # the most specific name first (H100 PCIe before H100)
        if key in name:
            return value
    return None


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def animate_inputs(pipe, size: tuple[int, int], frames: int) -> dict:
    """What ``animate_motion`` takes besides the pipeline: a reference, a SynthHF motion (drawn at 64×64 and scaled
    to ``size`` by the conditions, as a pose file is), an identity vector when the model takes one."""
    from interanimate.pipelines import driving

    gen = torch.Generator().manual_seed(0)
    dim = pipe.identity_dim()
    return {"reference": torch.rand(3, *size, generator=gen) * 2 - 1,
            "motion": driving.from_synthhf("LH-NP", 0, frames, 0, (64, 64)),
            "identity": (torch.randn(dim, generator=gen).numpy() if dim else None)}


def time_animate(pipe, inputs: dict, size, steps: int, repeats: int, device, decode_chunk: int = 8) -> dict:
    """Seconds for the whole clip (``driving.animate_motion``), and per denoising step: the UNet passes of the run
    (forward hooks on the UNet) divided by the steps; the rest (encoders, scheduler, decode) reported apart."""
    from interanimate.pipelines.driving import animate_motion

    unet_time = [0.0]

    def pre(*_):
        _sync(device)
        unet_time.append(time.perf_counter())

    def post(*_):
        _sync(device)
        unet_time[0] += time.perf_counter() - unet_time.pop()

    def run(n):
        return animate_motion(pipe, inputs["reference"], inputs["motion"], size, inputs["identity"], steps=n,
                              guidance=2.0, seed=0, hand_prior_strength=1.0, decode_chunk=decode_chunk)

    handles = [pipe.unet.register_forward_pre_hook(pre), pipe.unet.register_forward_hook(post)]
    try:
        run(1)  # warm-up
        best = None
        for _ in range(repeats):
            unet_time[0] = 0.0
            _sync(device)
            start = time.perf_counter()
            run(steps)
            _sync(device)
            clip = time.perf_counter() - start
            if best is None or clip < best["sec_per_clip"]:
                best = {"sec_per_clip": clip, "sec_per_step": unet_time[0] / steps,
                        "sec_outside_steps": clip - unet_time[0], "steps": steps}
    finally:
        for handle in handles:
            handle.remove()
    best["run"] = run
    return best


def count_clip_flops(run, steps: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        run(steps)
    return float(counter.get_total_flops())


def run_shape(config: str, args, device) -> tuple[tuple[int, int], int, int]:
    """(size, frames, steps) of a config's run: as asked, else SIZES / 16 / 25, else (svd-xt on a CPU) reduced."""
    reduced = CPU_REDUCED.get(config, {}) if device.type != "cuda" else {}
    size = tuple(int(v) for v in args.size.split("x")) if args.size else reduced.get("size", SIZES[config])
    frames = args.frames or reduced.get("frames", 16)
    steps = args.steps or reduced.get("steps", 25)
    if reduced and not (args.size and args.frames and args.steps):
        print(f"{config}: reduced for the CPU to {frames}×{size[0]}×{size[1]}, {steps} steps (proves the path; "
              "time it on a GPU)")
    return size, frames, steps


def main(argv=None) -> int:
    from interanimate.pipelines.placement import place, resolve_placement

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,small", help="comma-separated: tiny, small, svd-xt")
    parser.add_argument("--dtypes", default="fp32,bf16", help="comma-separated: fp32, bf16, fp16 (GPU), auto")
    parser.add_argument("--offloads", default="none", help="comma-separated: none, model, sequential (GPU only)")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 16; CPU svd-xt: 2)")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps per clip (default: the paper's 25; CPU svd-xt: 2)")
    parser.add_argument("--size", default=None, help="HxW in pixels (default: SIZES; CPU svd-xt: 64x64)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    parser.add_argument("--floor", action="store_true", help="GPU: count FLOPs and print the bf16 physical floor")
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device(resolve_placement(args.device, "fp32").device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}, CFG on (2 UNet passes/step)")
    results = []
    for config in [c.strip() for c in args.configs.split(",") if c.strip()]:
        size, frames, steps = run_shape(config, args, device)
        variants = (True, False) if config == "svd-xt" else (True,)
        for dtype in args.dtypes.split(","):
            for offload in args.offloads.split(","):
                placement = resolve_placement(str(device), dtype, offload)
                row = {"config": config, "size": "x".join(map(str, size)), "frames": frames, "steps": steps,
                       "dtype": placement.dtype, "offload": offload}
                for interanimate in variants:
                    if device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(device)
                    pipe = place(build_pipeline(config, interanimate, torch.device("cpu"), placement.torch_dtype,
                                                size[0]), placement)
                    timing = time_animate(pipe, animate_inputs(pipe, size, frames), size, steps, args.repeats,
                                          device)
                    run = timing.pop("run")
                    key = "interanimate" if interanimate else "plain_svd"
                    if device.type == "cuda":
                        timing["peak_gib"] = torch.cuda.max_memory_allocated(device) / 2 ** 30
                        peak = peak_flops(name)
                        if args.floor and interanimate and peak:
                            flops = count_clip_flops(run, steps)
                            timing.update(flops_per_clip=flops, floor_sec_per_clip=flops / peak,
                                          fraction_of_floor=flops / peak / timing["sec_per_clip"])
                    row[key] = timing
                    extra = "".join(f", {k} {timing[k]:.3g}" for k in ("peak_gib", "floor_sec_per_clip",
                                                                         "fraction_of_floor") if k in timing)
                    print(f"{config:7s} {row['size']:>9s} x{frames} {placement.dtype} offload {offload} {key:12s}: "
                          f"{timing['sec_per_step']:.3f} s/step, {timing['sec_per_clip']:.2f} s/clip ({steps} "
                          f"steps){extra}", flush=True)
                    del pipe, run
                    gc.collect()  # the UNet's forward hooks reference the UNet: a cycle, freed only by the collector
                    if device.type == "cuda":
                        torch.cuda.empty_cache()
                if "plain_svd" in row:
                    ratio = row["interanimate"]["sec_per_step"] / row["plain_svd"]["sec_per_step"]
                    row["step_time_ratio"] = ratio
                    print(f"{config} {placement.dtype} {offload}: InterAnimate / plain SVD step time = {ratio:.3f}")
                results.append(row)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": name, "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
