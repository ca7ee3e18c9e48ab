"""``InterAnimatePipeline``: reference image + pose sequence (+ hand/face masks, identity) -> video frames.

The sampling follows SVD and MimicMotion: Euler discrete (v-prediction, Karras sigmas) with classifier-free
guidance whose unconditional pass zeroes the image embedding and the reference latent and drops the pose, linear
per-frame guidance from ``min_guidance_scale`` to ``max_guidance_scale``, and progressive latent fusion
(:mod:`interanimate.pipelines.fusion`) for sequences longer than ``tile_size``.

Components (``save_pretrained`` / ``from_pretrained`` write and read all of them, diffusers layout): ``vae``
(``AutoencoderKLTemporalDecoder`` as SVD, or a 2-D ``AutoencoderKL`` decoding frame by frame), ``image_encoder``
(``CLIPVisionModelWithProjection``), ``unet`` (``InterAnimateUNet``, or a plain ``UNetSpatioTemporalConditionModel``,
which ignores poses, masks and identity), ``scheduler`` (``EulerDiscreteScheduler``).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline
from diffusers.utils import BaseOutput
from diffusers.utils.torch_utils import randn_tensor
from torch import Tensor

from interanimate.models import conditioning
from interanimate.models.first_stage import downsampling_factor, load_vae, vae_decode
from interanimate.pipelines.fusion import DEFAULT_OVERLAP, DEFAULT_TILE_SIZE, fuse_tiles

logger = logging.getLogger(__name__)


@dataclass
class InterAnimatePipelineOutput(BaseOutput):
    frames: Tensor | np.ndarray  # see ``output_type``
    latents: Tensor | None = None


def svd_scheduler_config() -> dict:
    """SVD's EulerDiscreteScheduler settings (``scheduler/scheduler_config.json`` of SVD-XT 1.1)."""
    return dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                prediction_type="v_prediction", interpolation_type="linear", use_karras_sigmas=True,
                sigma_min=0.002, sigma_max=700.0, timestep_type="continuous", timestep_spacing="leading",
                steps_offset=1)


def _load_scheduler(folder: Path, cls):
    """A scheduler folder whose config holds exactly ``cls``'s arguments (diffusers only warns about the rest)."""
    from interanimate.model_folders import read_json_file
    from interanimate.models.loading import check_config_keys

    check_config_keys(read_json_file(folder / "scheduler_config.json"), cls, folder / "scheduler_config.json",
                      cls.__name__)
    return cls.from_pretrained(os.fspath(folder))


class InterAnimatePipeline(DiffusionPipeline):
    model_cpu_offload_seq = "image_encoder->unet->vae"

    def __init__(self, vae, image_encoder, unet, scheduler, residual_to_reference: bool = False,
                 residual_scale: float = 1.0, window: int = DEFAULT_TILE_SIZE, hand_prior_strength: float = 1.0):
        super().__init__()
        self.register_modules(vae=vae, image_encoder=image_encoder, unet=unet, scheduler=scheduler)
        # residual_to_reference: True for models trained to generate (z − z_ref) / residual_scale
        # (TrainConfig.residual_to_reference); sampled latents are scaled back and the clean reference latent added.
        # window: the clip length the model was trained on, the default tile size of the fusion.
        # hand_prior_strength: the model's default for ``__call__``'s (1: the plain sampler; below 1 the sampler
        # starts from the rendered hand prior, docs/inference.md "Hand prior").
        # All saved in model_index.json.
        if not 0.0 < float(hand_prior_strength) <= 1.0:
            raise ValueError(f"hand_prior_strength must be in (0, 1], got {hand_prior_strength}")
        self.register_to_config(residual_to_reference=residual_to_reference, residual_scale=float(residual_scale),
                                window=int(window), hand_prior_strength=float(hand_prior_strength))

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, torch_dtype: torch.dtype | None = None, **components):
        """Load a folder written by ``save_pretrained``. diffusers' generic loader cannot resolve a component class
        from outside diffusers/transformers, so a folder whose ``unet`` is an ``InterAnimateUNet`` is loaded here,
        component by component (the UNet strictly); anything else goes to diffusers. Components passed as keyword
        arguments are used as given."""
        from interanimate.model_folders import check_pipeline_folder

        folder = Path(pretrained_model_name_or_path)
        spec = check_pipeline_folder(folder, option="model folder") if folder.is_dir() else {}  # one line per problem
        if spec.get("unet", [None, None])[1] != "InterAnimateUNet":
            dtype = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
            return super().from_pretrained(pretrained_model_name_or_path, **dtype, **components)
        from diffusers import EulerDiscreteScheduler
        from transformers import CLIPVisionModelWithProjection

        from interanimate.models import InterAnimateUNet
        from interanimate.models.loading import strict_load

        unknown = sorted(set(components) - {"vae", "image_encoder", "unet", "scheduler"})
        if unknown:
            raise TypeError(f"unexpected keyword argument(s) {unknown}")
        dtype = {"torch_dtype": torch_dtype} if torch_dtype is not None else {}
        loaders = {  # every component strictly: a missing or unexpected key is one line naming it
            "vae": lambda: load_vae(folder / "vae", torch_dtype),
            "image_encoder": lambda: strict_load(
                CLIPVisionModelWithProjection.from_pretrained, os.fspath(folder / "image_encoder"),
                "CLIPVisionModelWithProjection", **({"dtype": torch_dtype} if torch_dtype is not None else {})),
            "unet": lambda: InterAnimateUNet.from_pretrained(os.fspath(folder / "unet"), **dtype),
            "scheduler": lambda: _load_scheduler(folder / "scheduler", EulerDiscreteScheduler),
        }
        loaded = {name: components[name] if name in components else load() for name, load in loaders.items()}
        return cls(**loaded, residual_to_reference=bool(spec.get("residual_to_reference", False)),
                   residual_scale=float(spec.get("residual_scale", 1.0)),
                   window=int(spec.get("window", DEFAULT_TILE_SIZE)),
                   hand_prior_strength=float(spec.get("hand_prior_strength", 1.0)))

    # ---------------------------------------------------------------- helpers
    @property
    def vae_scale_factor(self) -> int:
        return downsampling_factor(self.vae)

    @property
    def interaction_inputs(self) -> tuple[str, ...]:
        """Which of pose/masks/identity the UNet's forward accepts (none for a plain diffusers UNet)."""
        return conditioning.accepted_inputs(self.unet)

    def identity_dim(self) -> int | None:
        """Width of the identity vector the UNet takes (None: it takes none)."""
        for key in ("id_embed_dim", "id_embedding_dim", "id_dim"):
            if key in self.unet.config:
                return int(self.unet.config[key])
        return None

    def default_size(self) -> tuple[int, int]:
        """(H, W) to generate at when the caller names none: the VAE's ``sample_size``, square."""
        side = int(self.vae.config.get("sample_size", 64))
        return side, side

    def takes_hand_map(self) -> bool:
        """Whether the UNet's pose encoder takes the dense hand shape map after the skeleton (``hand_map_channels``):
        draw the pose frames with ``conditions_from_keypoints(..., hand_map=pipe.takes_hand_map())``."""
        return bool(self.unet.config.get("hand_map_channels", 0))

    def takes_hand_prior(self) -> bool:
        """Whether the UNet takes the hand prior (``hand_prior``), which ``__call__`` draws from the pose frames' hand
        shape map and the reference (:func:`interanimate.models.conditioning.hand_prior_latents`)."""
        return bool(self.unet.config.get("hand_prior", False))

    def sampler_start(self, num_inference_steps: int, hand_prior_strength: float | None = None) -> tuple[float, int]:
        """(the strength ``__call__`` uses — ``hand_prior_strength``, or the model's ``config.hand_prior_strength``
        when None — and how many of the ``num_inference_steps`` it runs: the last ``round(steps · strength)``, at
        least one)."""
        strength = float(self.config.get("hand_prior_strength", 1.0)) if hand_prior_strength is None \
            else float(hand_prior_strength)
        return strength, max(1, int(round(num_inference_steps * strength)))

    def _predict(self, latents: Tensor, t: Tensor, cond: conditioning.UNetConditions, indices: list[int],
                 guidance: Tensor, do_cfg: bool, one_call: bool = False) -> Tensor:
        """One tile: guided v-prediction for the frames ``indices``; latents (B, F, C, h, w) -> (B, T, C, h, w).
        ``one_call``: both guidance passes in one UNet call (:meth:`_guided_in_one_call`, decided once per call)."""
        idx = torch.tensor(indices, device=latents.device)
        sample = self.scheduler.scale_model_input(latents[:, idx], t)  # (B, T, C, h, w)
        tile = cond.frames(idx)
        accepted, dtype = self.interaction_inputs, self.unet.dtype

        def run(x, tile_cond):
            model_input, kwargs = conditioning.unet_inputs(x, tile_cond, accepted, dtype)  # (B', T, 2C, h, w)
            return self.unet(model_input, t, return_dict=False, **kwargs)[0].float()

        if not do_cfg:
            return run(sample, tile)
        if one_call:  # the conditioned and unconditional passes as one batch of 2B, as diffusers
            both = run(torch.cat([sample, sample]), tile.with_unconditional())  # (2B, T, C, h, w)
            pred, pred_uncond = both.chunk(2)  # 2 × (B, T, C, h, w)
        else:
            pred, pred_uncond = run(sample, tile), run(sample, tile.unconditional())
        scale = guidance[idx].view(1, -1, 1, 1, 1)  # (1, T, 1, 1, 1)
        return pred_uncond + scale * (pred - pred_uncond)

    def _guided_in_one_call(self) -> bool:
        """Whether both guidance passes go through the UNet in one call of 2B: on an accelerator (as diffusers'
        pipelines do) without offload hooks, when the UNet can leave out the pose per sample (``pose_keep``) or takes
        no input the unconditional pass leaves out. Not on the CPU: there two calls of B were faster (the bundled
        model, 128×128, 16 frames, one thread, 3 alternating runs: 3.9 s a clip against 4.7 at B 2, 3.9 against 4.3
        at B 1); not under offload, which asks for memory before speed (one call holds twice the activations).
        Same predictions either way up to float rounding (tests/pipelines/test_sampler_shortcuts.py)."""
        if self._execution_device.type == "cpu" or self._unet_offloaded():
            return False
        accepted = self.interaction_inputs
        return "pose_keep" in accepted or not set(conditioning.UNCONDITIONAL_REMOVED) & set(accepted)

    def _unet_offloaded(self) -> bool:
        """diffusers' offload hooks (model or sequential) are on the UNet: they move it only around its forward."""
        return hasattr(self.unet, "_hf_hook")

    def decode_latents(self, latents: Tensor, decode_chunk_size: int = 8) -> Tensor:
        """latents (B, F, C, h, w) -> frames (B, F, 3, H, W) in [-1, 1], decoding ``decode_chunk_size`` at a time."""
        b, f = latents.shape[:2]
        flat = (latents / self.vae.config.scaling_factor).flatten(0, 1)  # (B·F, C, h, w)
        frames = []
        for i in range(0, flat.shape[0], decode_chunk_size):
            chunk = flat[i:i + decode_chunk_size].to(self.vae.dtype)
            frames.append(vae_decode(self.vae, chunk, chunk.shape[0]).float())
        return torch.cat(frames).unflatten(0, (b, f))  # (B, F, 3, H, W)

    # ---------------------------------------------------------------- call
    @torch.no_grad()
    def __call__(self, reference: Tensor, pose_frames: Tensor, hand_mask: Tensor | None = None,
                 face_mask: Tensor | None = None, id_embedding: Tensor | None = None, num_inference_steps: int = 25,
                 min_guidance_scale: float = 1.0, max_guidance_scale: float = 2.5, fps: int = 7,
                 motion_bucket_id: int = 127, noise_aug_strength: float = 0.02,
                 tile_size: int | None | str = "model", tile_overlap: int = DEFAULT_OVERLAP,
                 decode_chunk_size: int = 8, generator: torch.Generator | None = None, output_type: str = "pt",
                 return_dict: bool = True, latents: Tensor | None = None, callback_on_step_end=None,
                 reference_pose: Tensor | None = None, reference_hand_mask: Tensor | None = None,
                 reference_face_mask: Tensor | None = None, hand_prior_strength: float | None = None):
        """Animate ``reference`` (B, 3, H, W) in [-1, 1] along ``pose_frames`` (B, F, 3, H, W) in [-1, 1] (with
        the hand shape map's channels after the skeleton's three when the model ``takes_hand_map()``).

        ``hand_mask``/``face_mask`` (B, F, 1, H, W) in {0, 1} default to the whole frame (the region branch then acts
        everywhere; derive real masks from keypoints with :func:`interanimate.keypoints.masks.masks_for_sequence`).
        ``id_embedding`` (B, D_id) defaults to zeros (no identity), as StableAnimator does when no face is found.
        ``tile_size="model"`` uses the clip length the model was trained on (``config.window``); ``None`` disables
        fusion (one window of every frame). ``output_type``: ``"pt"`` float (B, F, 3, H, W)
        in [-1, 1], ``"np"`` uint8 (B, F, H, W, 3), ``"latent"`` the final latents.
        ``reference_pose`` (B, 3 + K, H, W), drawn like ``pose_frames``: the reference image's own pose, as MimicMotion
        uses it: prepended as an
        extra frame 0 (with ``reference_hand_mask`` / ``reference_face_mask`` (B, 1, H, W), default the first
        frame's), so that every fused tile holds it next to the reference latent, and its output frame dropped
        (``latents``, when given, then has F + 1 frames). Off by default: docs/inference.md, "Frame 0", has the
        measurement behind that choice.
        ``callback_on_step_end(pipe, step_index, timestep, {"latents": latents})`` runs after every denoising step
        (as diffusers' pipelines call it; its return value is ignored), e.g. to show progress.
        ``hand_prior_strength`` < 1 (a model that takes the hand map): start the sampler from the hand prior
        (:func:`interanimate.models.conditioning.hand_prior_latents`, the reference with the hand painted in its skin
        tone) noised to that point of the schedule, as img2img's ``strength`` does (SDEdit), instead of from pure
        noise; 1 is the plain sampler; None (default): the model's ``config.hand_prior_strength``.
        """
        hand_prior_strength, steps_run = self.sampler_start(num_inference_steps, hand_prior_strength)
        # 1. check inputs
        if reference.ndim == 3:
            reference = reference.unsqueeze(0)  # (1, 3, H, W)
        if pose_frames.ndim == 4:
            pose_frames = pose_frames.unsqueeze(0)  # (1, F, 3, H, W)
        batch, num_frames, _, height, width = pose_frames.shape
        if reference.shape[0] != batch or reference.shape[-2:] != (height, width):
            raise ValueError(f"reference {tuple(reference.shape)} does not match pose frames "
                             f"{tuple(pose_frames.shape)}")
        if height % self.vae_scale_factor or width % self.vae_scale_factor:
            raise ValueError(f"height and width must be multiples of {self.vae_scale_factor}, got {height}x{width}")
        if isinstance(tile_size, str) and tile_size != "model":
            raise ValueError(f"tile_size must be an int, None or 'model', got {tile_size!r}")
        if not 0.0 < hand_prior_strength <= 1.0:
            raise ValueError(f"hand_prior_strength must be in (0, 1], got {hand_prior_strength}")
        if hand_prior_strength < 1.0 and not self.takes_hand_map():
            raise ValueError("hand_prior_strength < 1 needs a model that takes the hand shape map")
        if output_type not in ("pt", "np", "latent"):
            raise ValueError(f"output_type must be 'pt', 'np' or 'latent', got {output_type!r}")
        device, dtype = self._execution_device, torch.float32  # the GPU under offload hooks too
        reference = reference.to(device, dtype)
        full = torch.ones(batch, num_frames, 1, height, width, device=device)
        hand_mask = full if hand_mask is None else hand_mask.to(device, dtype)
        face_mask = full if face_mask is None else face_mask.to(device, dtype)
        pose_frames = pose_frames.to(device, dtype)
        anchored = reference_pose is not None
        if anchored:  # the reference's own pose as an extra frame 0 (dropped from the output)
            if reference_pose.ndim == 3:
                reference_pose = reference_pose.unsqueeze(0)  # (1, 3, H, W)
            pose_frames = torch.cat([reference_pose.to(device, dtype)[:, None], pose_frames], 1)  # (B, F+1, 3, H, W)
            lead = [(m[:, :1] if r is None else r.to(device, dtype).reshape(batch, 1, 1, height, width))
                    for m, r in ((hand_mask, reference_hand_mask), (face_mask, reference_face_mask))]
            hand_mask = torch.cat([lead[0], hand_mask], 1)  # (B, F+1, 1, H, W)
            face_mask = torch.cat([lead[1], face_mask], 1)
            num_frames += 1

        # 2. the UNet's conditions (interanimate.models.conditioning, as the trainer builds them): CLIP embedding of
        # the reference, VAE latent of the noise-augmented reference, time ids, poses, masks, identity
        noise = randn_tensor(reference.shape, generator=generator, device=device, dtype=reference.dtype)
        aug = torch.full((batch,), float(noise_aug_strength), device=device)  # (B,)
        image_embeds, ref_latents = conditioning.encode_reference(self.vae, self.image_encoder, reference, aug, noise)
        if id_embedding is None and "id_embedding" in self.interaction_inputs and self.identity_dim():
            id_embedding = torch.zeros(batch, self.identity_dim(), device=device)  # no identity, a trained condition
        cond = conditioning.UNetConditions(
            image_embeds=image_embeds, ref_latents=ref_latents,  # (B, C, h, w): unet_inputs repeats it per frame
            time_ids=conditioning.added_time_ids(fps, motion_bucket_id, aug),
            pose_frames=pose_frames, hand_mask=hand_mask, face_mask=face_mask,
            id_embedding=None if id_embedding is None else id_embedding.to(device, dtype))
        prior = None
        if self.takes_hand_prior() or hand_prior_strength < 1.0:  # the reference with the hand painted, diffused space
            residual = self.config.get("residual_to_reference", False)
            prior = conditioning.hand_prior_latents(
                self.vae, reference, pose_frames, face_mask,
                float(self.config.get("residual_scale", 1.0)) if residual else None)  # (B, F, C, h, w)
        if self.takes_hand_prior():
            cond.hand_prior = prior
        if not self._unet_offloaded():  # the pose encoded once for every step and tile (under offload, inside the
            cond = cond.pose_encoded(self.unet)  # UNet's forward, where the hooks put its weights on the device)

        # 3. timesteps
        self.scheduler.set_timesteps(num_inference_steps, device=device)
        timesteps = self.scheduler.timesteps
        start = num_inference_steps - steps_run
        if start:  # SDEdit from the hand prior: skip the first steps
            timesteps = timesteps[start:]
            self.scheduler.set_begin_index(start)

        # 4. initial noise
        shape = (batch, num_frames, self.vae.config.latent_channels, height // self.vae_scale_factor,
                 width // self.vae_scale_factor)
        if latents is None:
            latents = randn_tensor(shape, generator=generator, device=device, dtype=dtype)
        if start:
            latents = prior.to(dtype) + latents.to(device, dtype) * self.scheduler.sigmas[start].to(device)
        else:
            latents = latents.to(device, dtype) * self.scheduler.init_noise_sigma  # (B, F, C, h, w)

        # 5. guidance scale per frame
        guidance = torch.linspace(min_guidance_scale, max_guidance_scale, num_frames, device=device)  # (F,)
        do_cfg = max_guidance_scale > 1.0
        one_call = do_cfg and self._guided_in_one_call()

        # 6. denoising loop: fused tile predictions, one Euler step on the whole sequence
        if tile_size == "model":
            tile_size = int(self.config.get("window", DEFAULT_TILE_SIZE))
        tile = tile_size if tile_size is not None else num_frames
        with self.progress_bar(total=len(timesteps)) as progress:
            for i, t in enumerate(timesteps):
                pred = fuse_tiles(lambda idx: self._predict(latents, t, cond, idx, guidance, do_cfg, one_call),
                                  num_frames, tile, min(tile_overlap, max(tile - 2, 0)))
                latents = self.scheduler.step(pred, t, latents, generator=generator).prev_sample
                progress.update()
                if callback_on_step_end is not None:
                    callback_on_step_end(self, i, t, {"latents": latents})

        # 7. decode (models trained on the residual to the reference: add the clean reference latent back)
        if anchored:
            latents = latents[:, 1:]  # (B, F, C, h, w): the reference-pose frame is not part of the video
        if self.config.get("residual_to_reference", False):
            clean = self.vae.encode(reference.to(self.vae.dtype)).latent_dist.mode().float()  # (B, C, h, w)
            latents = conditioning.from_residual(latents, self.vae.config.scaling_factor * clean,
                                                 float(self.config.get("residual_scale", 1.0)))  # (B, F, C, h, w)
        if output_type == "latent":
            frames = latents
        else:
            frames = self.decode_latents(latents, decode_chunk_size).clamp(-1, 1)  # (B, F, 3, H, W)
            if output_type == "np":
                frames = ((frames + 1) * 127.5).round().to(torch.uint8).permute(0, 1, 3, 4, 2).cpu().numpy()
        self.maybe_free_model_hooks()
        if not return_dict:
            return (frames,)
        return InterAnimatePipelineOutput(frames=frames, latents=latents)
