"""The denoiser and the image encoder a run's ``model`` config names (the first stage, which may be fitted or
trained on the run's own data, is built by the trainer), and the optimizer its ``optim`` config names."""

from __future__ import annotations

from pathlib import Path

from interanimate.errors import UserError
from interanimate.training.config import ModelConfig, OptimConfig
from interanimate.models.first_stage import build_small_image_encoder


def unet_kwargs(cfg: ModelConfig) -> dict:
    """Constructor arguments of the named UNet size with ``unet_overrides`` applied."""
    from interanimate.models import get_model_config

    try:
        kwargs = get_model_config(cfg.unet).to_kwargs()
    except KeyError as err:
        raise UserError(f"model.unet: {err.args[0]}") from None
    unknown = sorted(set(cfg.unet_overrides) - set(kwargs))
    if unknown:
        raise UserError(f"model.unet_overrides: unknown argument(s) {unknown}")
    return {**kwargs, **cfg.unet_overrides}


# What ``unet_overrides`` may change on a UNet loaded from a folder (``model.unet: DIR`` or ``model.init_from``): only
# additions that start at zero, so the loaded weights compute what they did (InterAnimateUNet.with_hand_map,
# InterAnimateUNet.with_hand_prior).
FOLDER_OVERRIDES = ("hand_map_channels", "hand_prior")


def folder_overrides(cfg: ModelConfig) -> dict:
    """``unet_overrides`` for a UNet loaded from a folder: those that change nothing (a stage's base config may name
    the size it was built with) are dropped; any other than ``FOLDER_OVERRIDES`` is refused."""
    from interanimate.models import InterAnimateUNet

    saved = InterAnimateUNet.load_config(cfg.unet)
    unknown = sorted(k for k, v in cfg.unet_overrides.items()
                     if k not in FOLDER_OVERRIDES and _plain(saved.get(k)) != _plain(v))
    if unknown:
        raise UserError(f"model.unet_overrides: {unknown} cannot change a UNet loaded from {cfg.unet}; only "
                        f"{', '.join(FOLDER_OVERRIDES)} can (added with zero weights)")
    kept = {k: v for k, v in cfg.unet_overrides.items() if k in FOLDER_OVERRIDES}
    if kept.get("hand_map_channels", 0) < saved.get("hand_map_channels", 0):
        raise UserError(f"model.unet_overrides.hand_map_channels: {kept['hand_map_channels']} would remove the hand "
                        f"map the UNet in {cfg.unet} takes ({saved['hand_map_channels']} channels)")
    if saved.get("hand_prior", False) and not kept.get("hand_prior", True):
        raise UserError(f"model.unet_overrides.hand_prior: false would remove the hand prior the UNet in {cfg.unet} "
                        f"takes")
    if kept.get("hand_prior") and not kept.get("hand_map_channels", saved.get("hand_map_channels", 0)):
        raise UserError("model.unet_overrides.hand_prior needs the hand shape map: set hand_map_channels too")
    return kept


def _plain(value):
    return list(value) if isinstance(value, (list, tuple)) else value


def unet_config(cfg: ModelConfig) -> dict:
    """The constructor arguments of the UNet ``cfg`` builds (a folder's config with its allowed overrides, or the
    named size's)."""
    from interanimate.models import InterAnimateUNet

    if cfg.backbone == "wan":  # the Wan transformer's (same option names: use_id, id_embed_dim, …)
        from interanimate.training.wan_backbone import transformer_config
        return transformer_config(cfg)
    if Path(cfg.unet).is_dir():
        return {**InterAnimateUNet.load_config(cfg.unet), **folder_overrides(cfg)}
    return unet_kwargs(cfg)


def id_embed_dim(cfg: ModelConfig) -> int | None:
    """The width of the identity vector the configured UNet takes (None: it has no ID preserver)."""
    from interanimate.models import INTERANIMATE_DEFAULTS

    kwargs = unet_config(cfg)
    if not kwargs.get("use_id", INTERANIMATE_DEFAULTS["use_id"]):
        return None
    return int(kwargs.get("id_embed_dim", INTERANIMATE_DEFAULTS["id_embed_dim"]))


def build_unet(cfg: ModelConfig):
    """A saved InterAnimateUNet folder, SVD's UNet wrapped (``svd_unet``), or a fresh one of the named size."""
    from interanimate.models import INTERANIMATE_DEFAULTS, InterAnimateUNet, load_svd_unet

    if Path(cfg.unet).is_dir():  # strictly, in fp32 whatever it was saved in (the bundled model ships fp16)
        import torch
        unet = InterAnimateUNet.from_pretrained(cfg.unet, torch_dtype=torch.float32)
        overrides = folder_overrides(cfg)
        if overrides.get("hand_map_channels") is not None:
            unet = InterAnimateUNet.with_hand_map(unet, int(overrides["hand_map_channels"]))
        if overrides.get("hand_prior"):
            unet = InterAnimateUNet.with_hand_prior(unet)
        return unet
    kwargs = unet_kwargs(cfg)
    if cfg.svd_unet:
        base = load_svd_unet(cfg.svd_unet)
        return InterAnimateUNet.from_svd_unet(base, **{k: v for k, v in kwargs.items() if k in INTERANIMATE_DEFAULTS})
    return InterAnimateUNet(**kwargs)


def build_image_encoder(cfg: ModelConfig):
    """CLIP's vision tower from a folder (``image_encoder.pretrained``), else the small one, projecting to the
    UNet's cross-attention width."""
    enc = cfg.image_encoder
    if enc.pretrained:
        import torch
        from transformers import CLIPVisionModelWithProjection

        from interanimate.models.loading import strict_load
        return strict_load(CLIPVisionModelWithProjection.from_pretrained, enc.pretrained,
                           "CLIPVisionModelWithProjection", dtype=torch.float32)
    cross = unet_config(cfg)["cross_attention_dim"]
    return build_small_image_encoder(int(cross), enc.hidden_size, enc.num_hidden_layers, enc.num_attention_heads,
                                     enc.image_size, enc.patch_size)


def build_optimizer(param_groups: list[dict], cfg: OptimConfig):
    """AdamW over ``param_groups`` (each with its own ``lr``): torch's (``optim.name: adamw``) or bitsandbytes'
    8-bit one (``adamw_8bit``: moments stored in 8 bits, 2 bytes per parameter instead of 8; bitsandbytes is not a
    dependency of this package and is imported only here)."""
    kwargs = dict(lr=cfg.lr, betas=tuple(cfg.betas), eps=cfg.eps, weight_decay=cfg.weight_decay)
    if cfg.name == "adamw_8bit":
        try:
            import bitsandbytes
        except ImportError:
            raise UserError("optim.name: adamw_8bit needs bitsandbytes (pip install bitsandbytes); "
                            "or use optim.name: adamw") from None
        return bitsandbytes.optim.AdamW8bit(param_groups, **kwargs)
    import torch
    return torch.optim.AdamW(param_groups, **kwargs)
