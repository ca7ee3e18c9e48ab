"""Where and how the video model runs: one way to place it, for ``animate``, ``demo``, ``evaluate`` and the dataset
engine (local and Ray).

* ``device``: ``auto`` (the first CUDA GPU when torch sees one, else the CPU), ``cpu``, ``cuda`` or ``cuda:N``;
* ``dtype``: ``auto`` (bf16 on a GPU that has it, fp16 on one that does not, fp32 on the CPU), ``fp32``, ``bf16``,
  ``fp16`` (GPU only: half-precision convolutions on the CPU are slow or missing);
* ``offload``: ``none``, ``model`` (diffusers' model CPU offload: one whole model on the GPU at a time, in the order
  ``image_encoder->unet->vae``) or ``sequential`` (submodule by submodule: least memory, slowest) — GPU only;
* ``decode_chunk``: frames the VAE decodes at once.

What stays in fp32 whatever ``dtype`` says: the scheduler and the latents it steps, classifier-free guidance's
combination, the residual-to-reference arithmetic and the hand prior's latents (the pipeline casts only the UNet's,
the VAE's and the image encoder's inputs to the weights' dtype and takes their outputs back as fp32). Attention runs
through PyTorch's scaled_dot_product_attention (diffusers' default processor for every attention block here).

:func:`resolve_placement` checks the options before anything loads (a GPU-only option on a machine without a GPU is a
:class:`~interanimate.errors.UserError`, one line, exit 2); :func:`check_gpu_memory` refuses a size, frame count and
dtype whose weights and frames alone cannot fit the GPU; :func:`load_pipeline` loads and places.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

from interanimate.errors import UserError

DEVICES_HELP = "auto, cpu, cuda or cuda:N"
DTYPES = ("auto", "fp32", "bf16", "fp16")
OFFLOADS = ("none", "model", "sequential")
DEFAULT_DECODE_CHUNK = 8
_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}
# the frame tensors a clip needs at once besides the weights (the output frames, the decoded chunk, the latents and
# their copies in the sampler): counted as this many fp32 copies of the RGB frames, a lower bound
GPU_FRAME_COPIES = 3


@dataclass(frozen=True)
class Placement:
    """A resolved placement: ``device`` "cpu" or "cuda:N", ``dtype`` one of fp32/bf16/fp16, ``offload`` one of
    ``OFFLOADS``, ``decode_chunk`` ≥ 1."""
    device: str = "cpu"
    dtype: str = "fp32"
    offload: str = "none"
    decode_chunk: int = DEFAULT_DECODE_CHUNK

    @property
    def torch_dtype(self):
        import torch

        return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[self.dtype]

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")

    def describe(self) -> str:
        offload = "" if self.offload == "none" else f", {self.offload} offload"
        return f"{self.device}, {self.dtype}{offload}"


def resolve_placement(device: str = "auto", dtype: str = "auto", offload: str = "none",
                      decode_chunk: int = DEFAULT_DECODE_CHUNK, prefix: str = "--",
                      cuda_available: bool | None = None, bf16_supported: bool | None = None) -> Placement:
    """Options -> a :class:`Placement`, checked without loading any model. ``prefix`` names the options in messages
    (``--`` for the CLI, ``generation.`` for a dataset recipe). ``cuda_available`` / ``bf16_supported``: torch's answers
    unless given (tests). Asks torch only when the answer matters (``device`` cpu needs no torch: a dataset driver
    checking its recipe stays torch-free and starts its workers sooner)."""
    name = str(device).strip().lower()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", name):
        raise UserError(f"{prefix}device {device!r}: use {DEVICES_HELP}")
    if cuda_available is None and name != "cpu":
        import torch

        cuda_available = torch.cuda.is_available()
    if name == "auto":
        name = "cuda:0" if cuda_available else "cpu"
    elif name.startswith("cuda"):
        if not cuda_available:
            raise UserError(f"{prefix}device {device}: no CUDA GPU is available here; use cpu or auto")
        import torch

        index = int(name.split(":")[1]) if ":" in name else 0
        count = torch.cuda.device_count()
        if index >= count:
            raise UserError(f"{prefix}device {device}: this machine has {count} CUDA GPU(s) (cuda:0 to "
                            f"cuda:{count - 1})")
        name = f"cuda:{index}"
    gpu = name.startswith("cuda")
    if dtype not in DTYPES:
        raise UserError(f"{prefix}dtype {dtype!r}: use one of {', '.join(DTYPES)}")
    if dtype == "auto":
        if gpu:
            if bf16_supported is None:
                import torch

                bf16_supported = torch.cuda.is_bf16_supported()
            dtype = "bf16" if bf16_supported else "fp16"
        else:
            dtype = "fp32"
    if dtype == "fp16" and not gpu:
        raise UserError(f"{prefix}dtype fp16 needs a GPU (--device cuda); on the CPU use bf16 or fp32")
    if offload not in OFFLOADS:
        raise UserError(f"{prefix}offload {offload!r}: use one of {', '.join(OFFLOADS)}")
    if offload != "none" and not gpu:
        raise UserError(f"{prefix}offload {offload} needs a GPU (--device cuda): it moves models between the GPU "
                        "and the CPU")
    if int(decode_chunk) < 1:
        raise UserError(f"{prefix}decode-chunk {decode_chunk}: need at least 1 frame")
    return Placement(name, dtype, offload, int(decode_chunk))


# ---------------------------------------------------------------------------------------------- memory
def model_parameters(model_dir: str | os.PathLike) -> dict[str, int]:
    """Parameters of each component folder of a diffusers-format model (unet, vae, image_encoder, …), read from its
    safetensors headers."""
    from interanimate.model_folders import WEIGHT_SUFFIX, check_safetensors_file

    counts = {}
    for folder in sorted(p for p in Path(model_dir).iterdir() if p.is_dir()):
        files = sorted(folder.glob(f"*{WEIGHT_SUFFIX}"))
        if files:
            counts[folder.name] = sum(math.prod(entry["shape"]) for f in files
                                      for name, entry in check_safetensors_file(f).items() if name != "__metadata__")
    return counts


def gpu_memory_needed(placement: Placement, parameters: dict[str, int], frames: int, height: int,
                      width: int) -> int:
    """A lower bound of the GPU memory one clip needs (bytes): the weights resident at once in ``placement.dtype``
    (all of them; the largest model under ``model`` offload; none under ``sequential``) and ``GPU_FRAME_COPIES``
    fp32 copies of the clip's RGB frames. Refusing above it is safe; passing it does not promise a fit."""
    size = _BYTES[placement.dtype]
    if placement.offload == "none":
        weights = sum(parameters.values()) * size
    elif placement.offload == "model":
        weights = max(parameters.values(), default=0) * size
    else:
        weights = 0
    return weights + GPU_FRAME_COPIES * int(frames) * int(height) * int(width) * 3 * 4


def check_gpu_memory(placement: Placement, model_dir: str | os.PathLike, frames: int, height: int, width: int,
                     memory_bytes: int | None = None, name: str = "--size") -> int | None:
    """Refuse (UserError) a clip that cannot fit the chosen GPU (``memory_bytes``: its total memory; torch's answer
    when None). Nothing to check on the CPU (``validation.check_video_memory`` does that). Returns the estimate."""
    if not placement.on_gpu:
        return None
    need = gpu_memory_needed(placement, model_parameters(model_dir), frames, height, width)
    if memory_bytes is None:
        import torch

        memory_bytes = torch.cuda.get_device_properties(placement.device).total_memory
    if need > memory_bytes:
        from interanimate.validation import gib

        raise UserError(f"{name} {height}x{width} with {frames} frames in {placement.dtype} needs at least {gib(need)} "
                        f"of GPU memory ({placement.offload} offload); {placement.device} has {gib(memory_bytes)}: "
                        "use fewer frames, a smaller size, bf16/fp16 or --offload model/sequential")
    return need


# ---------------------------------------------------------------------------------------------- loading
def place(pipe, placement: Placement):
    """Move a loaded pipeline where ``placement`` says (or install the offload hooks). Returns it."""
    if placement.offload == "model":
        pipe.enable_model_cpu_offload(device=placement.device)
    elif placement.offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=placement.device)
    else:
        pipe.to(placement.device)
    return pipe


def load_pipeline(model_dir: str | os.PathLike, placement: Placement):
    """The InterAnimate pipeline of ``model_dir`` (diffusers format, loaded strictly) in ``placement.dtype``, placed:
    ``InterAnimatePipeline`` (the SVD UNet) or ``InterAnimateWanPipeline``, as its model_index.json names."""
    from interanimate.model_folders import WAN_PIPELINE, read_json_file
    from interanimate.pipelines.pipeline import InterAnimatePipeline

    cls = InterAnimatePipeline
    if read_json_file(Path(model_dir) / "model_index.json").get("_class_name") == WAN_PIPELINE:
        from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline as cls
    pipe = cls.from_pretrained(model_dir, torch_dtype=placement.torch_dtype)
    return place(pipe, placement)
