"""``model.backbone: wan``: what the trainer builds and computes differently for the Wan-Animate transformer — the
networks (Wan's VAE, the image encoder, the text condition, the InterAnimate Wan transformer with optional LoRA), the
parameter groups, one training step (Wan's flow matching with the region-amplified and orthogonality terms) and the
pipeline that previews and exports it. Everything else (data order, accumulation, clipping, EMA, checkpoints, resume,
logs, FSDP/DDP wrapping) is the trainer's, unchanged.

The transformer is held as ``trainer.unet`` (the trainer's name for "the denoiser") so that ``prepare``, checkpoints
and the EMA need no second code path; its parameters are named ``unet.*`` in checkpoints for the same reason.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import Tensor

from interanimate.errors import UserError
from interanimate.training.config import ModelConfig


def transformer_config(cfg: ModelConfig) -> dict:
    """Constructor arguments of the transformer ``model.wan`` builds (a folder's config, or the named size's with
    ``overrides``)."""
    from interanimate.models.wan import InterAnimateWanAnimateTransformer
    from interanimate.models.wan_configs import get_wan_config

    wan = cfg.wan
    if Path(wan.transformer).is_dir():
        if wan.overrides:
            raise UserError(f"model.wan.overrides cannot change the transformer loaded from {wan.transformer}")
        return dict(InterAnimateWanAnimateTransformer.load_config(wan.transformer))
    try:
        kwargs = get_wan_config(wan.transformer).to_kwargs()
    except KeyError as err:
        raise UserError(f"model.wan.transformer: {err.args[0]}") from None
    unknown = sorted(set(wan.overrides) - set(kwargs))
    if unknown:
        raise UserError(f"model.wan.overrides: unknown argument(s) {unknown}")
    return {**kwargs, **wan.overrides}


def check_folders(cfg: ModelConfig) -> None:
    """Every folder ``model.wan`` names exists and holds a whole diffusers/transformers component — one line each,
    before any data is rendered or anything written."""
    from interanimate.model_folders import check_component_folder

    wan = cfg.wan
    named = {"transformer": wan.transformer if Path(wan.transformer).is_dir() else None, "base": wan.base,
             "vae": wan.vae, "image_encoder": wan.image_encoder, "text_encoder": wan.text_encoder,
             "tokenizer": wan.tokenizer}
    for key, path in named.items():
        if path is None:
            continue
        if not Path(path).is_dir():
            raise UserError(f"model.wan.{key} {path}: no such folder")
        try:
            check_component_folder(path, "tokenizer_config.json" if key == "tokenizer" else "config.json",
                                   needs_weights=key != "tokenizer")
        except UserError as err:
            raise UserError(f"model.wan.{key}: {err}") from None


def build_transformer(cfg: ModelConfig):
    """The InterAnimate Wan-Animate transformer: a saved folder (strictly), or the named size — wrapping the weights
    of a diffusers Wan-Animate folder (``model.wan.base``) when given — then LoRA when ``lora_rank`` > 0."""
    from diffusers import WanAnimateTransformer3DModel

    from interanimate.models.loading import strict_load
    from interanimate.models.wan import WAN_INTERANIMATE_DEFAULTS, InterAnimateWanAnimateTransformer

    wan = cfg.wan
    kwargs = transformer_config(cfg)
    if Path(wan.transformer).is_dir():
        model = InterAnimateWanAnimateTransformer.from_pretrained(wan.transformer, torch_dtype=torch.float32)
    elif wan.base:
        base = strict_load(WanAnimateTransformer3DModel.from_pretrained, wan.base, "WanAnimateTransformer3DModel",
                           torch_dtype=torch.float32)
        base_kwargs = {k: v for k, v in kwargs.items() if k not in WAN_INTERANIMATE_DEFAULTS}
        differs = sorted(k for k, v in base_kwargs.items() if _plain(base.config.get(k)) != _plain(v))
        if differs:
            raise UserError(f"model.wan.base: {wan.base} is not a {wan.transformer} (differs in {differs[:4]}); "
                            "name its size in model.wan.transformer")
        model = InterAnimateWanAnimateTransformer.from_wan(
            base, **{k: v for k, v in kwargs.items() if k in WAN_INTERANIMATE_DEFAULTS})
    else:
        model = InterAnimateWanAnimateTransformer(**kwargs)
    if wan.lora_rank > 0:
        from interanimate.models.wan_lora import add_base_lora
        add_base_lora(model, wan.lora_rank, wan.lora_alpha, tuple(wan.lora_targets))
    return model


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else (dict(value) if isinstance(value, dict) else value)


def build_vae(cfg: ModelConfig):
    """Wan's VAE from ``model.wan.vae`` (strictly), else a small random ``AutoencoderKLWan`` (stride 4×8×8, 16
    latent channels, as Wan's)."""
    from diffusers import AutoencoderKLWan

    from interanimate.models.loading import strict_load
    if cfg.wan.vae:
        return strict_load(AutoencoderKLWan.from_pretrained, cfg.wan.vae, "AutoencoderKLWan", torch_dtype=torch.float32)
    return AutoencoderKLWan(base_dim=cfg.wan.vae_base_dim, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                            temperal_downsample=[False, True, True])


def build_image_encoder(cfg: ModelConfig, image_dim: int | None):
    """CLIP's vision tower from ``model.wan.image_encoder`` (Wan's ViT-H), else the small one; its hidden size must
    be the transformer's ``image_dim`` (the tokens go in unprojected)."""
    from interanimate.models.first_stage import build_small_image_encoder

    if cfg.wan.image_encoder:
        from transformers import CLIPVisionModel

        from interanimate.models.loading import strict_load
        encoder = strict_load(CLIPVisionModel.from_pretrained, cfg.wan.image_encoder, "CLIPVisionModel",
                              dtype=torch.float32)
    else:
        enc = cfg.image_encoder
        encoder = build_small_image_encoder(enc.hidden_size, enc.hidden_size, enc.num_hidden_layers,
                                            enc.num_attention_heads, enc.image_size, enc.patch_size)
    if image_dim is not None and encoder.config.hidden_size != image_dim:
        raise UserError(f"the image encoder's hidden size is {encoder.config.hidden_size} but the transformer's "
                        f"image_dim is {image_dim}; set model.image_encoder.hidden_size: {image_dim} or "
                        "model.wan.overrides.image_dim")
    return encoder


def load_text_encoder(cfg: ModelConfig, dtype: torch.dtype = torch.float32):
    """(UMT5 encoder, tokenizer) from their folders, or (None, None). It stays on the CPU: the prompt is fixed and
    encoded once (UMT5-XXL is 5.7 B parameters; in ``dtype``)."""
    if not cfg.wan.text_encoder:
        return None, None
    from transformers import AutoTokenizer, UMT5EncoderModel

    from interanimate.models.loading import strict_load
    encoder = strict_load(UMT5EncoderModel.from_pretrained, cfg.wan.text_encoder, "UMT5EncoderModel", dtype=dtype)
    return encoder, AutoTokenizer.from_pretrained(cfg.wan.tokenizer)


# ----------------------------------------------------------------------------------------------- trainer hooks
def build_networks(trainer) -> None:
    """Set ``trainer.vae``, ``trainer.image_encoder``, ``trainer.unet`` (the transformer) and ``trainer.text``."""
    from interanimate.models import wan_conditioning as wc

    cfg = trainer.config.model
    trainer.vae = build_vae(cfg)
    torch.manual_seed(trainer.config.seed)  # the weights built next do not depend on how the VAE was obtained
    kwargs = transformer_config(cfg)
    trainer.image_encoder = build_image_encoder(cfg, kwargs.get("image_dim"))
    low = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(trainer.accelerator.mixed_precision, torch.float32)
    trainer.text_encoder, trainer.tokenizer = load_text_encoder(cfg, low)
    trainer.text = wc.encode_prompt(trainer.text_encoder, trainer.tokenizer, cfg.wan.prompt,
                                 cfg.wan.max_sequence_length, int(kwargs["text_dim"])).to(trainer.device)
    trainer.unet = build_transformer(cfg)


def cast_frozen(trainer, dtype: torch.dtype) -> None:
    """Under bf16/fp16 mixed precision (GPUs only; CPU runs stay fp32): the frozen weights — the Wan base under
    LoRA, the VAE, a frozen image encoder — held in ``dtype``, the trainable ones kept fp32 (masters for AdamW and the
    EMA). Halves what a 17 B base takes on every GPU (DDP) or in every shard (FSDP2, which needs one dtype only among
    the trainable parameters of a block)."""
    modules = [trainer.unet, trainer.vae] + ([] if "image_encoder" in trainer.config.trainable
                                             else [trainer.image_encoder])
    with torch.no_grad():
        for module in modules:
            for t in [*module.parameters(), *module.buffers()]:
                if t.is_floating_point() and not t.requires_grad:
                    t.data = t.data.to(dtype)


def parameter_groups(trainer) -> dict[str, list[tuple[str, Tensor]]]:
    """The configured trainable groups of the Wan transformer (names prefixed ``unet.``), in ``named_parameters``
    order; a parameter is in the first group that names it."""
    from interanimate.models.wan import parameter_group_names

    named = list(trainer.unet.named_parameters())
    members = parameter_group_names(n for n, _ in named)
    available = {group: [(n, p) for n, p in named if n in names] for group, names in members.items()}
    chosen, seen = {}, set()
    for group in trainer.config.trainable:
        picked = [("unet." + n, p) for n, p in available[group] if id(p) not in seen]
        seen.update(id(p) for _, p in picked)
        chosen[group] = picked
    return chosen


def training_step(trainer, batch: dict, generator: torch.Generator,
                  shared: torch.Generator | None = None) -> dict[str, Tensor]:
    """One micro-batch of Wan flow matching: the clip's latents behind the reference's, the conditions built by
    :func:`interanimate.models.wan_conditioning.build_wan_conditions` (as the pipeline builds them), CFG drops."""
    from interanimate.losses import flow_matching_loss, sample_flow_sigmas
    from interanimate.models import wan_conditioning as wc
    from interanimate.training.state import LOSS_MASK_KEYS, drop_conditions

    cfg, cond = trainer.config, trainer.config.conditioning
    dev = trainer.device
    frames = batch["frames"].to(dev)  # (B, F, 3, H, W)
    reference = batch["reference"].to(dev)  # (B, 3, H, W)
    b = frames.shape[0]
    face_mask = batch["face_mask"].to(dev)
    config = trainer.accelerator.unwrap_model(trainer.unet).config
    image_size = trainer.accelerator.unwrap_model(trainer.image_encoder).config.image_size
    conditions = wc.build_wan_conditions(
        trainer.vae, trainer.image_encoder, reference, batch["pose"].to(dev), trainer.text,
        face_frames=frames if cfg.model.wan.face_video == "clip" else None,
        hand_mask=batch["hand_mask"].to(dev), face_mask=face_mask,
        id_embedding=batch["identity_embedding"].to(dev), face_size=int(config.motion_encoder_size),
        image_size=image_size)
    with torch.no_grad():  # the reference's latent is the one the conditions hold (I2V channels 4:20 of frame 0)
        latents = torch.cat([conditions.reference[:, 4:, :1], wc.encode_video(trainer.vae, frames)],
                            dim=2)  # (B, 16, T' + 1, h, w)
    conditions = drop_conditions(conditions, cond, b, generator, shared, dev)
    weights = LOSS_MASK_KEYS[cfg.loss.weight_masks]
    sigma = sample_flow_sigmas(b, generator, cfg.model.wan.flow_shift, dev)  # (B,)
    noise = torch.randn(latents.shape, generator=generator).to(dev)  # (B, 16, T' + 1, h, w)
    with trainer.autocast():
        loss, logs = flow_matching_loss(
            trainer.unet, latents, sigma, noise, conditions,
            loss_hand_mask=wc.token_frame_masks(batch[weights[0]].to(dev)),
            loss_face_mask=wc.token_frame_masks(batch[weights[1]].to(dev)),
            alpha_hand=cfg.loss.alpha_hand, alpha_face=cfg.loss.alpha_face,
            orthogonality_weight=cfg.loss.orthogonality_weight,
            orthogonality_model=trainer.accelerator.unwrap_model(trainer.unet))
    return {"loss": loss, "loss_diff": logs["loss_diff"], "loss_orth": logs["loss_orth"]}


def training_pipeline(trainer, transformer, image_encoder, merged: bool = False):
    """The models being trained as an ``InterAnimateWanPipeline``. ``merged`` (the export): LoRA merged into a copy,
    so that the exported transformer is a plain InterAnimate Wan folder, loaded strictly (the copy is made where the
    transformer is: under DDP on the main GPU, under FSDP on the CPU the gathered weights are on); previews sample
    the adapted model as it is. A bf16 base with fp32 trained modules (``cast_frozen``) is saved as it is held and
    sampled under autocast (the pipeline)."""
    from diffusers import FlowMatchEulerDiscreteScheduler

    from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline

    if merged and trainer.config.model.wan.lora_rank > 0:
        from interanimate.models.wan_lora import has_lora, merged_copy
        if has_lora(transformer):
            transformer = merged_copy(transformer)
    height, width = _size(trainer)
    pipe = InterAnimateWanPipeline(
        transformer=transformer, vae=trainer.vae, image_encoder=image_encoder,
        scheduler=FlowMatchEulerDiscreteScheduler(shift=trainer.config.model.wan.flow_shift),
        text_encoder=trainer.text_encoder, tokenizer=trainer.tokenizer, prompt=trainer.config.model.wan.prompt,
        segment_frames=trainer.config.data.num_frames, height=height, width=width,
        hand_map=trainer.config.model.wan.hand_map)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _size(trainer) -> tuple[int, int]:
    """The exported pipeline's default (H, W): the training size, else the first training clip's."""
    if trainer.config.data.size:
        return tuple(trainer.config.data.size)
    return tuple(trainer.train_set[0]["frames"].shape[-2:])
