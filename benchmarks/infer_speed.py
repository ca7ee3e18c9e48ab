"""Inference speed of InterAnimatePipeline: seconds per denoising step and per clip.

    python benchmarks/infer_speed.py                      # tiny and small on this machine's CPU
    python benchmarks/infer_speed.py --configs svd-xt     # on a GPU: 16×576×1024, with and without InterAnimate;
                                                          # on a CPU: the same path at 2×64×64, 2 steps (~9 GiB RAM)
    python benchmarks/infer_speed.py --configs svd-xt --size 576x1024 --frames 16 --steps 25   # any size, explicitly

Weights are random (speed does not depend on them). A "denoising step" is the UNet work of one Euler step: the
conditional and the unconditional pass (classifier-free guidance), timed with forward hooks on the UNet. A "clip" is
the whole pipeline call: reference encoding, ``--steps`` denoising steps, and the chunked VAE decode. For ``svd-xt``
the same run also times the plain diffusers SVD UNet (no pose encoder, region attention or ID preserver) and prints
the ratio. On a CPU the svd-xt run is reduced (``CPU_REDUCED``: the full-width model, SVD's VAE and CLIP ViT-H with
random weights, a small clip) to prove the path, not to time it.
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


def inputs(config: str, size: tuple[int, int], frames: int, device, with_id: bool) -> dict:
    from interanimate.models import get_model_config

    height, width = size
    gen = torch.Generator().manual_seed(0)
    out = {"reference": torch.rand(1, 3, height, width, generator=gen) * 2 - 1,
           "pose_frames": torch.rand(1, frames, 3, height, width, generator=gen) * 2 - 1}
    if with_id:
        masks = torch.zeros(1, frames, 1, height, width)
        masks[..., height // 4:3 * height // 4, width // 4:3 * width // 4] = 1.0  # a quarter-frame region
        out.update(hand_mask=masks, face_mask=masks,
                   id_embedding=torch.randn(1, get_model_config(config).interanimate["id_embed_dim"]))
    return {k: v.to(device) for k, v in out.items()}


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_pipeline(pipe, kwargs: dict, steps: int, repeats: int, device) -> dict:
    """Seconds for the whole clip, and per denoising step: the UNet passes of the run (timed by forward hooks on
    the UNet) divided by the number of steps, plus the rest of the clip (encode, scheduler, decode) reported apart."""
    unet_time = [0.0]

    def pre(*_):
        _sync(device)
        unet_time.append(time.perf_counter())

    def post(*_):
        _sync(device)
        unet_time[0] += time.perf_counter() - unet_time.pop()

    handles = [pipe.unet.register_forward_pre_hook(pre), pipe.unet.register_forward_hook(post)]
    try:
        pipe(**kwargs, num_inference_steps=1, generator=torch.Generator().manual_seed(0))  # warm-up
        best = None
        for _ in range(repeats):
            unet_time[0] = 0.0
            _sync(device)
            start = time.perf_counter()
            pipe(**kwargs, num_inference_steps=steps, generator=torch.Generator().manual_seed(0), decode_chunk_size=8)
            _sync(device)
            clip = time.perf_counter() - start
            if best is None or clip < best["sec_per_clip"]:
                best = {"sec_per_clip": clip, "sec_per_step": unet_time[0] / steps,
                        "sec_outside_steps": clip - unet_time[0], "steps": steps}
    finally:
        for handle in handles:
            handle.remove()
    return best


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
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="tiny,small", help="comma-separated: tiny, small, svd-xt")
    parser.add_argument("--frames", type=int, default=None, help="frames per clip (default 16; CPU svd-xt: 2)")
    parser.add_argument("--steps", type=int, default=None,
                        help="denoising steps per clip (default: the paper's 25; CPU svd-xt: 2)")
    parser.add_argument("--size", default=None, help="HxW in pixels (default: SIZES; CPU svd-xt: 64x64)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--dtype", default="auto", choices=("auto", "float32", "float16", "bfloat16"))
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    dtype = {"auto": torch.float16 if device.type == "cuda" else torch.float32, "float32": torch.float32,
             "float16": torch.float16, "bfloat16": torch.bfloat16}[args.dtype]
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU ({torch.get_num_threads()} threads)"
    print(f"device: {name}, dtype {dtype}, CFG on (2 UNet passes/step)")
    results = []
    for config in [c.strip() for c in args.configs.split(",") if c.strip()]:
        size, frames, steps = run_shape(config, args, device)
        variants = (True, False) if config == "svd-xt" else (True,)
        row = {"config": config, "size": "x".join(map(str, size)), "frames": frames, "steps": steps}
        for interanimate in variants:
            pipe = build_pipeline(config, interanimate, device, dtype, size[0])
            timing = time_pipeline(pipe, inputs(config, size, frames, device, interanimate), steps,
                                   args.repeats, device)
            key = "interanimate" if interanimate else "plain_svd"
            row[key] = timing
            if device.type == "cuda":
                row[key]["peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
                torch.cuda.reset_peak_memory_stats()
            print(f"{config:7s} {row['size']:>9s} x{frames} {key:12s}: {timing['sec_per_step']:.3f} s/step, "
                  f"{timing['sec_per_clip']:.2f} s/clip ({steps} steps)", flush=True)
            del pipe
            gc.collect()  # the UNet's forward hooks reference the UNet: a cycle, freed only by the collector
            if device.type == "cuda":
                torch.cuda.empty_cache()
        if "plain_svd" in row:
            ratio = row["interanimate"]["sec_per_step"] / row["plain_svd"]["sec_per_step"]
            row["step_time_ratio"] = ratio
            print(f"{config}: InterAnimate / plain SVD step time = {ratio:.3f}")
        results.append(row)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"device": name, "dtype": str(dtype), "results": results}, fh, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
