"""The paper's model at its real width (``svd-xt``: 1,524.6 M UNet parameters + 24.55 M added) on the CPU, and the
paper's run configs.

``full_width`` tests build the 1.55 B-parameter model with random weights (minutes and ~7 GiB of RAM each): run by
``make test-full``, excluded from ``make test``, skipped when the machine has less free memory than they need. The
others (tiny model, meta device, config checks) run in ``make test`` in seconds.
"""

import gc
from pathlib import Path

import pytest
import torch

from interanimate.cli import main
from interanimate.models import build_svd_unet, build_unet, get_model_config, trainable_parameter_groups
from interanimate.models.unet import NEW_KEY_PREFIXES
from interanimate.training.config import ConfigError, load_config
from interanimate.training.dry_run import GiB, available_memory, dry_run

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
SVD_XT = CONFIGS / "train_svd_xt.yaml"
# measured once outside the suite (docs/model.md): base UNet, and what each InterAnimate module adds
SVD_XT_BASE_M = 1524.6
SVD_XT_ADDED_M = {"pose_encoder": 0.22, "interaction_latents": 1.05, "region": 11.13, "id_preserver": 12.15}
FULL_WIDTH_FREE = 14 * GiB  # the machine is shared: start a full-width test only with this much free


def _need_free_memory() -> None:
    gc.collect()  # an earlier model is a reference cycle (its forward hooks hold it): freed only by the collector
    free = available_memory()
    if free is not None and free < FULL_WIDTH_FREE:
        pytest.skip(f"full-width test needs {FULL_WIDTH_FREE / GiB:.0f} GiB free, {free / GiB:.1f} GiB available")


def _inputs(frames: int = 2, latent: int = 8, seed: int = 0) -> tuple[tuple, dict]:
    """svd-xt inputs at a small size: (B, F, 8, h, w) sample, CLIP width 1024, ArcFace 512-d identity."""
    cfg = get_model_config("svd-xt")
    g = torch.Generator().manual_seed(seed)
    size = 8 * latent
    args = (torch.randn(1, frames, 8, latent, latent, generator=g), torch.tensor([0.7]),
            torch.randn(1, 1, cfg.unet["cross_attention_dim"], generator=g), torch.tensor([[6.0, 127.0, 0.02]]))
    hand = torch.zeros(1, frames, 1, size, size)
    hand[..., size // 2:, : size // 2] = 1.0
    face = torch.zeros(1, frames, 1, size, size)
    face[..., : size // 2, size // 4:3 * size // 4] = 1.0
    extra = dict(pose_frames=torch.rand(1, frames, 3, size, size, generator=g) * 2 - 1, hand_mask=hand,
                 face_mask=face, id_embedding=torch.randn(1, cfg.interanimate["id_embed_dim"], generator=g))
    return args, extra


def _millions(groups: dict) -> dict:
    return {name: sum(p.numel() for p in params) / 1e6 for name, params in groups.items()}


# ------------------------------------------------------------------------------------------ full width (make test-full)
@pytest.mark.full_width
def test_svd_xt_with_every_module_equals_diffusers_unet_at_init():
    """minGPT-style: at initialisation the InterAnimate UNet with pose, region and ID branches all active gives
    exactly what diffusers' UNetSpatioTemporalConditionModel gives with the same weights (shared, not copied)."""
    _need_free_memory()
    torch.manual_seed(0)
    model = build_unet("svd-xt").eval()  # fp32, ~5.8 GiB
    counts = _millions(trainable_parameter_groups(model))
    assert round(counts.pop("unet"), 1) == SVD_XT_BASE_M
    assert {k: round(v, 2) for k, v in counts.items()} == SVD_XT_ADDED_M
    assert round(sum(counts.values()), 2) == 24.55

    with torch.device("meta"):
        plain = build_svd_unet("svd-xt")
    base = {k: v for k, v in model.state_dict().items() if not k.startswith(NEW_KEY_PREFIXES)}
    plain.load_state_dict(base, strict=True, assign=True)  # every key of diffusers' UNet, the very same tensors
    plain.eval()
    assert not any(t.is_meta for t in [*plain.parameters(), *plain.buffers()])

    args, extra = _inputs()
    with torch.no_grad():
        expected = plain(*args).sample
        got = model(*args, **extra).sample
        bare = model(*args).sample
    assert got.shape == expected.shape == (1, 2, 4, 8, 8)
    assert (got - expected).abs().max().item() <= 1e-5  # 0.0 observed
    assert (bare - expected).abs().max().item() <= 1e-5


@pytest.mark.full_width
def test_one_training_step_at_svd_xt_width():
    """The dry run of configs/train_svd_xt.yaml: the trainer's build, training_step, backward, clipping and optimizer
    update at full width; every trainable group gets a gradient and moves, and the optimizer state is AdamW's."""
    _need_free_memory()
    report = dry_run(load_config(SVD_XT))
    groups = {g.name: g for g in report.groups}
    assert set(groups) == {"unet", *SVD_XT_ADDED_M}
    assert round(groups["unet"].params / 1e6, 1) == SVD_XT_BASE_M
    assert {k: round(groups[k].params / 1e6, 2) for k in SVD_XT_ADDED_M} == SVD_XT_ADDED_M
    assert torch.isfinite(torch.tensor(report.loss)) and report.loss_orth > 0
    for g in report.groups:
        assert g.grad_norm > 0, g.name
        assert 0 < g.max_update <= 2 * report.lr, g.name  # AdamW's first step: ±lr (fp32 rounding above it)
        assert g.state_bytes >= 8 * g.params, g.name  # fp32 exp_avg + exp_avg_sq (+ a step counter per tensor)
        assert g.weight_bytes == 2 * g.params, g.name  # bf16 weights, as the printout says
    assert "unet" in "\n".join(report.lines(load_config(SVD_XT)))


# ------------------------------------------------------------------------------------------ fast (make test)
def test_dry_run_of_the_tiny_model_prints_every_group(capsys):
    assert main(["train", "--config", str(CONFIGS / "train_tiny.yaml"), "--dry-run"]) == 0
    out = capsys.readouterr().out
    for name in ("unet", "pose_encoder", "interaction_latents", "region", "id_preserver", "image_encoder"):
        assert f"\n{name} " in out
    assert "AdamW state" in out and "added by InterAnimate" in out


def test_dry_run_steps_every_group_by_the_learning_rate():
    config = load_config(CONFIGS / "train_tiny.yaml", ["optim.lr=1e-3"])
    report = dry_run(config, frames=2, size=(32, 32), chunk=100_000)  # several chunks: the chunked path
    assert report.lr == pytest.approx(1e-3)
    for g in report.groups:
        assert g.grad_norm > 0 and g.max_update == pytest.approx(1e-3, rel=1e-2), g.name  # ±lr (eps: a bit under)
        assert g.state_bytes >= 8 * g.params, g.name


def test_svd_xt_config_refuses_to_train_until_its_paths_are_set(capsys, tmp_path):
    code = main(["train", "--config", str(SVD_XT), "--set", f"output_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    for key in ("data.root", "model.svd_unet", "model.vae.pretrained", "model.image_encoder.pretrained"):
        assert key in err
    assert not (tmp_path / "run").exists()  # refused before anything was written
    with pytest.raises(ConfigError, match="data.root"):  # one placeholder left
        from interanimate.training.trainer import Trainer
        Trainer(load_config(SVD_XT, [f"output_dir={tmp_path / 'run'}", "model.svd_unet=a",
                                     "model.vae.pretrained=b", "model.image_encoder.pretrained=c"])).train()


def test_svd_xt_configs_state_the_paper_recipe():
    config = load_config(SVD_XT)
    assert (config.optim.lr, config.max_steps, config.batch_size) == (1e-5, 50_000, 1)
    assert (config.data.num_frames, config.data.size, config.data.reference) == (16, [384, 640], "random")
    assert set(config.trainable) == {"unet", "pose_encoder", "interaction_latents", "region", "id_preserver"}
    assert config.mixed_precision == "bf16" and config.gradient_checkpointing and config.ema_decay > 0
    assert load_config(CONFIGS / "train_svd_xt_576x1024.yaml").data.size == [576, 1024]


@pytest.mark.parametrize("name, check", [
    ("no_ris", lambda m, c: m.region_blocks is None and m.interaction_latents is None and m.id_blocks is not None),
    ("no_quantize", lambda m, c: all(not b.use_quantize for b in m.region_blocks.values())),
    ("no_oloss", lambda m, c: c.loss.orthogonality_weight == 0 and m.region_blocks is not None),
    ("no_id", lambda m, c: m.id_blocks is None and m.id_projector is None and m.region_blocks is not None),
    ("hand_map", lambda m, c: m.pose_encoder.in_channels == 6 and m.region_blocks is not None),
])
def test_table2_ablation_configs_switch_one_thing(name, check):
    from interanimate.training.build import unet_kwargs
    from interanimate.models import InterAnimateUNet

    config = load_config(CONFIGS / f"train_svd_xt_{name}.yaml")
    with torch.device("meta"):
        model = InterAnimateUNet(**unet_kwargs(config.model))
    assert check(model, config)
    assert config.output_dir.endswith(name) and config.optim.lr == 1e-5  # the rest inherited from train_svd_xt.yaml
