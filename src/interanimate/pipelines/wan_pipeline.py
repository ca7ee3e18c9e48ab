"""``InterAnimateWanPipeline``: reference image + pose sequence (+ hand/face masks, identity, a face video) -> video,
with the InterAnimate Wan-Animate transformer (``models/wan.py``).

Sampling follows Wan2.2-Animate (diffusers' ``WanAnimatePipeline``): flow matching with Euler steps
(``FlowMatchEulerDiscreteScheduler``, Wan's shift), classifier-free guidance whose unconditional pass is
:meth:`WanConditions.unconditional`, and long videos by **segment continuation**: segments of ``segment_frames``
(4k + 1) frames, each after the first conditioned on the last ``overlap_frames`` frames the previous one generated
(given latents + I2V mask), those frames dropped from its output. The conditions of every segment come from
:func:`interanimate.models.wan_conditioning.build_wan_conditions`, the function training uses.

Components (diffusers layout, each loaded strictly by :meth:`from_pretrained`): ``transformer``
(``InterAnimateWanAnimateTransformer``), ``vae`` (``AutoencoderKLWan``), ``image_encoder`` (``CLIPVisionModel``, or
the small ``CLIPVisionModelWithProjection`` trained here), ``scheduler``, and optionally ``text_encoder``
(``UMT5EncoderModel``) with ``tokenizer`` (without them the text condition is Wan's empty one: zeros).
"""

from __future__ import annotations

import contextlib
import math
import os
from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from diffusers.utils.torch_utils import randn_tensor
from torch import Tensor

from interanimate.models import wan_conditioning as wc
from interanimate.pipelines.pipeline import InterAnimatePipelineOutput, _load_scheduler

COMPONENTS = ("transformer", "vae", "image_encoder", "scheduler", "text_encoder", "tokenizer")


class InterAnimateWanPipeline(DiffusionPipeline):
    model_cpu_offload_seq = "text_encoder->image_encoder->transformer->vae"
    _optional_components = ["text_encoder", "tokenizer"]
    decodes_segments = True  # __call__ decodes as it goes (segment continuation needs the frames): no "latent" out

    def __init__(self, transformer, vae, image_encoder, scheduler, text_encoder=None, tokenizer=None,
                 prompt: str = "", segment_frames: int = 77, overlap_frames: int = 1,
                 height: int = 480, width: int = 832, hand_map: bool = False):
        super().__init__()
        wc.latent_frame_count(int(segment_frames))  # 4k + 1
        if not 0 <= int(overlap_frames) < int(segment_frames):
            raise ValueError(f"overlap_frames must be in [0, segment_frames), got {overlap_frames}")
        self.register_modules(transformer=transformer, vae=vae, image_encoder=image_encoder, scheduler=scheduler,
                              text_encoder=text_encoder, tokenizer=tokenizer)
        # prompt: the text condition; segment_frames: the clip length it was trained on; overlap_frames: frames a
        # segment takes from the previous one; height, width: the default size; hand_map: the pose frames carry the
        # dense hand shape map (drawn into the pose video). All saved in model_index.json.
        self._text_cache: dict = {}  # text_condition's
        self.register_to_config(prompt=str(prompt), segment_frames=int(segment_frames),
                                overlap_frames=int(overlap_frames), height=int(height), width=int(width),
                                hand_map=bool(hand_map))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, torch_dtype: torch.dtype | None = None, **components):
        """Load a folder written by ``save_pretrained``, component by component, each strictly."""
        from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler

        from interanimate.model_folders import check_pipeline_folder
        from interanimate.models.loading import strict_load
        from interanimate.models.wan import InterAnimateWanAnimateTransformer

        folder = Path(pretrained_model_name_or_path)
        spec = check_pipeline_folder(folder, option="model folder")
        unknown = sorted(set(components) - set(COMPONENTS))
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}")
        dtype = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
        tdtype = {"dtype": torch_dtype} if torch_dtype is not None else {}

        def image_encoder():
            import transformers
            name = spec["image_encoder"][1]
            if name not in ("CLIPVisionModel", "CLIPVisionModelWithProjection"):
                raise ValueError(f"{folder}/model_index.json: unexpected image encoder class {name}")
            return strict_load(getattr(transformers, name).from_pretrained, os.fspath(folder / "image_encoder"),
                               name, **tdtype)

        def text_encoder():
            if spec.get("text_encoder", [None, None])[0] is None:
                return None
            from transformers import UMT5EncoderModel
            return strict_load(UMT5EncoderModel.from_pretrained, os.fspath(folder / "text_encoder"),
                               "UMT5EncoderModel", **tdtype)

        def tokenizer():
            if spec.get("tokenizer", [None, None])[0] is None:
                return None
            from transformers import AutoTokenizer
            return AutoTokenizer.from_pretrained(os.fspath(folder / "tokenizer"))

        loaders = {
            "transformer": lambda: InterAnimateWanAnimateTransformer.from_pretrained(
                os.fspath(folder / "transformer"), **dtype),
            "vae": lambda: strict_load(AutoencoderKLWan.from_pretrained, os.fspath(folder / "vae"),
                                       "AutoencoderKLWan", **dtype),
            "image_encoder": image_encoder,
            "scheduler": lambda: _load_scheduler(folder / "scheduler", FlowMatchEulerDiscreteScheduler),
            "text_encoder": text_encoder,
            "tokenizer": tokenizer,
        }
        loaded = {name: components[name] if name in components else load() for name, load in loaders.items()}
        options = {k: spec[k] for k in ("prompt", "segment_frames", "overlap_frames", "height", "width", "hand_map")
                   if k in spec}
        return cls(**loaded, **options)

    # ---------------------------------------------------------------- what callers ask of a pipeline
    def identity_dim(self) -> int | None:
        config = self.transformer.config
        return int(config["id_embed_dim"]) if config.get("use_id", False) else None

    def takes_hand_map(self) -> bool:
        return bool(self.config.get("hand_map", False))

    def takes_hand_prior(self) -> bool:
        return False

    def sampler_start(self, num_inference_steps: int, hand_prior_strength: float | None = None) -> tuple[float, int]:
        """(1, the steps run per segment): the Wan pipeline always samples from pure noise (no hand prior)."""
        if hand_prior_strength not in (None, 1.0):
            raise ValueError("hand_prior_strength: the Wan pipeline has no hand prior")
        return 1.0, int(num_inference_steps)

    def default_size(self) -> tuple[int, int]:
        return int(self.config.height), int(self.config.width)

    def text_condition(self, device) -> Tensor:
        """(1, L, text_dim): the prompt through UMT5, or zeros without a text encoder — encoded once per pipeline
        and device (the prompt is fixed; UMT5-XXL is 5.7 B parameters), not on every call."""
        key = (id(self.text_encoder), str(device))
        if self._text_cache.get("key") != key:
            text = wc.encode_prompt(self.text_encoder, self.tokenizer, self.config.prompt, 512,
                                    int(self.transformer.config.text_dim))
            self._text_cache = {"key": key, "text": text.to(device)}
        return self._text_cache["text"]

    # ---------------------------------------------------------------- sampling
    @torch.no_grad()
    def __call__(self, reference: Tensor, pose_frames: Tensor, hand_mask: Tensor | None = None,
                 face_mask: Tensor | None = None, id_embedding: Tensor | None = None,
                 face_video: Tensor | None = None, num_inference_steps: int = 20, guidance_scale: float = 1.0,
                 generator: torch.Generator | list[torch.Generator] | None = None, output_type: str = "pt",
                 return_dict: bool = True, callback_on_step_end=None, max_guidance_scale: float | None = None,
                 hand_prior_strength: float | None = None, **unused):
        """Animate ``reference`` (B, 3, H, W) in [-1, 1] along ``pose_frames`` (B, F, 3 [+ K], H, W) in [-1, 1], any F.

        ``hand_mask``/``face_mask`` (B, F, 1, H, W); ``id_embedding`` (B, D_id) (default: none); ``face_video``
        (B, F, 3, H, W): frames to crop the face from (a driving video), default the reference (a still face).
        ``guidance_scale`` (``max_guidance_scale`` is its alias, the SVD pipeline's name): CFG, 1 = off (Wan-Animate's
        default). ``output_type``: ``"pt"`` (B, F, 3, H, W) in [-1, 1] or ``"np"`` uint8 (B, F, H, W, 3).
        ``callback_on_step_end(pipe, step_index, timestep, {"latents": latents})`` after every step of every segment.
        """
        if hand_prior_strength not in (None, 1.0):
            raise ValueError("hand_prior_strength: the Wan pipeline has no hand prior")
        if output_type not in ("pt", "np"):
            raise ValueError(f"output_type must be 'pt' or 'np' (segments are decoded as they go), got {output_type!r}")
        unknown = sorted(k for k in unused if k not in ("min_guidance_scale", "decode_chunk_size", "tile_size",
                                                        "tile_overlap", "fps", "motion_bucket_id",
                                                        "noise_aug_strength"))
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}")
        guidance = float(max_guidance_scale if max_guidance_scale is not None else guidance_scale)
        if reference.ndim == 3:
            reference = reference.unsqueeze(0)  # (1, 3, H, W)
        if pose_frames.ndim == 4:
            pose_frames = pose_frames.unsqueeze(0)  # (1, F, C, H, W)
        b, total, _, h, w = pose_frames.shape
        if reference.shape[0] != b or reference.shape[-2:] != (h, w):
            raise ValueError(f"reference {tuple(reference.shape)} does not match pose frames {tuple(pose_frames.shape)}")
        multiple = 8 * self.transformer.config.patch_size[1]
        if h % multiple or w % multiple:
            raise ValueError(f"height and width must be multiples of {multiple}, got {h}x{w}")
        device = self._execution_device
        dtype = self.transformer.dtype
        gens = generator if isinstance(generator, list) else [generator] * b

        # segments: S = 4k + 1 frames (shorter when the whole video is), each after the first overlapping by P
        seg = min(int(self.config.segment_frames), 4 * math.ceil((total - 1) / 4) + 1)
        overlap = min(int(self.config.overlap_frames), seg - 1)
        step = seg - overlap
        count = max(1, math.ceil((total - overlap) / step))
        padded = count * step + overlap  # frames covered; the tail repeats the last given frame

        def pad(x):
            if x is None:
                return None
            x = x.to(device)
            return torch.cat([x, x[:, -1:].expand(-1, padded - x.shape[1], *x.shape[2:])], 1) if padded > x.shape[1] \
                else x[:, :padded]

        poses, hands, faces, face_src = pad(pose_frames), pad(hand_mask), pad(face_mask), pad(face_video)
        reference = reference.to(device)
        text = self.text_condition(device)
        ids = None if id_embedding is None else id_embedding.to(device)
        face_size = int(self.transformer.config.motion_encoder_size)
        out, previous = [], None
        for j in range(count):
            lo, hi = j * step, j * step + seg
            cond = wc.build_wan_conditions(
                self.vae, self.image_encoder, reference.to(self.vae.dtype), poses[:, lo:hi].to(self.vae.dtype), text,
                face_frames=None if face_src is None else face_src[:, lo:hi],
                hand_mask=None if hands is None else hands[:, lo:hi],
                face_mask=None if faces is None else faces[:, lo:hi], id_embedding=ids, previous=previous,
                face_size=face_size)
            frames = self._denoise(cond, b, seg, (h, w), gens, num_inference_steps, guidance, device, dtype,
                                   callback_on_step_end)  # (B, S, 3, H, W)
            out.append(frames if j == 0 else frames[:, overlap:])
            previous = frames[:, seg - overlap:] if overlap else None
        video = torch.cat(out, dim=1)[:, :total].float()  # (B, F, 3, H, W)
        if output_type == "np":
            video = ((video + 1) * 127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return (video,)
        return InterAnimatePipelineOutput(frames=video, latents=None)

    def _denoise(self, cond: wc.WanConditions, b: int, seg: int, size: tuple[int, int], gens, steps: int,
                 guidance: float, device, dtype, callback) -> Tensor:
        """One segment: Euler flow-matching steps from noise over T' + 1 token frames, decoded without frame 0."""
        h, w = size
        shape = (1, 16, wc.latent_frame_count(seg) + 1, h // 8, w // 8)
        # a transformer holding several dtypes (a bf16 base with fp32 trained modules, as training keeps them) runs
        # under autocast in its base's dtype
        mixed = len({p.dtype for p in self.transformer.parameters()}) > 1
        amp = torch.autocast(device.type, dtype=dtype) if mixed else contextlib.nullcontext()
        latents = torch.cat([randn_tensor(shape, generator=g, device=device, dtype=torch.float32) for g in gens])
        uncond = cond.unconditional() if guidance > 1.0 else None
        self.scheduler.set_timesteps(steps, device=device)
        for i, t in enumerate(self.scheduler.timesteps):
            timestep = t.expand(b).to(dtype)
            with amp:
                pred = self.transformer(timestep=timestep, return_dict=False,
                                        **cond.model_kwargs(latents.to(dtype)))[0]
                if uncond is not None:
                    pred_u = self.transformer(timestep=timestep, return_dict=False,
                                              **uncond.model_kwargs(latents.to(dtype)))[0]
                    pred = pred_u + guidance * (pred - pred_u)
            latents = self.scheduler.step(pred.float(), t, latents, return_dict=False)[0]
            if callback is not None:
                callback(self, i, t, {"latents": latents})
        return wc.decode_latents(self.vae, latents[:, :, 1:].to(self.vae.dtype))  # (B, S, 3, H, W)
