import pytest
import torch

from interanimate.models import MODEL_CONFIGS, InterAnimateUNet, build_unet, get_model_config


def test_named_configs_exist_and_unknown_names_fail():
    assert set(MODEL_CONFIGS) == {"tiny", "small", "svd-xt"}
    with pytest.raises(KeyError, match="unknown model config"):
        get_model_config("huge")
    with pytest.raises(KeyError, match="bogus"):
        get_model_config("tiny").with_options(bogus=1)


def test_svd_xt_matches_the_released_unet_config():
    cfg = get_model_config("svd-xt")
    assert cfg.unet["block_out_channels"] == (320, 640, 1280, 1280)
    assert cfg.unet["num_attention_heads"] == (5, 10, 20, 20)
    assert (cfg.unet["cross_attention_dim"], cfg.unet["addition_time_embed_dim"]) == (1024, 256)
    assert cfg.unet["projection_class_embeddings_input_dim"] == 768 and cfg.unet["num_frames"] == 25
    ia = cfg.interanimate
    assert (ia["n_spatial_latents"], ia["n_temporal_latents"], ia["latent_dim"], ia["id_embed_dim"]) == \
        (512, 512, 1024, 512)


def test_svd_xt_has_sixteen_region_blocks():
    with torch.device("meta"):
        model = build_unet("svd-xt")
    assert len(model.region_blocks) == len(model.id_blocks) == 16


def test_small_fits_the_demo_budget():
    model = build_unet("small")
    n = sum(p.numel() for p in model.parameters())
    assert n <= 12_000_000, n  # UNet + modules; ≤ 24 MB in fp16
    assert isinstance(model, InterAnimateUNet)
