"""Trainer tests on the tiny config (CPU): one step, kill-and-resume, two processes, config validation, the
learned first stage."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from interanimate.errors import UserError
from interanimate.training.config import ConfigError, config_from_dict, load_config
from interanimate.training.trainer import Trainer, collate, list_checkpoints, lr_factor, step_generator
from interanimate.utils.io import file_mode


def _unet_state(trainer):
    return {k: v.detach().clone() for k, v in trainer.accelerator.unwrap_model(trainer.unet).state_dict().items()}


def test_one_step_is_finite_and_changes_trainable_weights_only(tiny_data, tiny_config_dict, tmp_path):
    groups = ["pose_encoder", "interaction_latents", "region", "id_preserver"]
    trainer = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, trainable=groups)))
    trainer.build_data()
    trainer.build_models()
    before = _unet_state(trainer)
    vae_before = {k: v.clone() for k, v in trainer.vae.state_dict().items()}
    trainable = {name.removeprefix("unet.") for name, _ in trainer.trainable_named}
    batch = collate([trainer.train_set[0]])
    parts = trainer.training_step(batch, step_generator(0, 0, 0))
    assert all(torch.isfinite(v) for v in parts.values())
    parts["loss"].backward()
    trainer.optimizer.step()
    after = _unet_state(trainer)
    assert all(torch.isfinite(v).all() for v in after.values())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed, "no weight changed"
    assert changed <= trainable, f"frozen weights changed: {sorted(changed - trainable)[:5]}"
    assert any(k.startswith("pose_encoder.") for k in changed)
    assert all(torch.equal(v, trainer.vae.state_dict()[k]) for k, v in vae_before.items())


def test_kill_and_resume_equals_uninterrupted(tiny_data, tiny_config_dict, tmp_path):
    changes = {"max_steps": 3, "checkpoint_every": 1, "optim.lr_decay_steps": 2}  # the anneal resumes too
    straight = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path / "a", **changes)))
    straight.train()
    interrupted = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path / "b", **changes)))
    interrupted.train(stop_at=1)  # "killed" after the checkpoint of step 1
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == ["step-00000001"]
    resumed = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path / "b", **changes)))
    resumed.train(resume="latest")
    assert resumed.step == straight.step == 3
    a, b = _unet_state(straight), _unet_state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    assert all(torch.equal(straight.ema.shadow[k], resumed.ema.shadow[k]) for k in straight.ema.shadow)
    assert (tmp_path / "b" / "final" / "model_index.json").is_file()
    # normal permissions (safetensors writes 0o600), on the exported weights and the checkpoints' alike
    written = [*(tmp_path / "b" / "final").rglob("*.safetensors"), *list_checkpoints(tmp_path / "b")[-1].iterdir()]
    assert written and all(p.stat().st_mode & 0o777 == file_mode() for p in written if p.is_file())
    assert (tmp_path / "b" / "validation" / "step-00000003.png").is_file()
    log = (tmp_path / "b" / "logs" / "train.csv").read_text().splitlines()
    assert log[0].startswith("step,loss") and [line.split(",")[0] for line in log[1:]] == ["1", "2", "3"]
    lr = [float(line.split(",")[log[0].split(",").index("lr")]) for line in log[1:]]
    assert lr == pytest.approx([1e-3, 5e-4, 0.0])  # lr after steps 1..3: constant, then to 0 over the last 2


def test_resume_refuses_older_and_ema_less_checkpoints_in_one_line(tiny_data, tiny_config_dict, tmp_path):
    import json

    Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, max_steps=2, checkpoint_every=1))).train(stop_at=1)
    checkpoint = list_checkpoints(tmp_path)[-1]
    (checkpoint / "ema.safetensors").unlink()  # as written with ema_decay: 0
    resumed = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, max_steps=2, checkpoint_every=1)))
    with pytest.raises(UserError, match="has no ema.safetensors"):
        resumed.setup("latest")
    state = json.loads((checkpoint / "trainer_state.json").read_text())
    del state["lr_scheduler"]  # as an older trainer wrote it (its schedule and EMA were pickles)
    (checkpoint / "trainer_state.json").write_text(json.dumps(state))
    resumed = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, max_steps=2, checkpoint_every=1)))
    with pytest.raises(UserError, match="older version"):
        resumed.setup("latest")


def test_ema_applied_leaves_low_precision_weights_and_the_averages_exact():
    """Previews and the export run inside ``EMA.applied``: with bf16 weights (DeepSpeed's bf16 engine) the fp32
    averages must not come back rounded to bf16, nor the weights changed."""
    from interanimate.training.state import EMA

    weight = torch.nn.Parameter(torch.randn(1000).bfloat16())
    ema = EMA([("w", weight)], 0.9)
    ema.shadow["w"] += torch.randn(1000) * 1e-3  # an average off the bf16 grid
    weights, averages = weight.detach().clone(), ema.shadow["w"].clone()
    with ema.applied([("w", weight)]):
        assert torch.equal(weight.detach(), averages.bfloat16())
    assert torch.equal(weight.detach(), weights) and torch.equal(ema.shadow["w"], averages)


def test_lr_factor_warms_up_holds_and_anneals():
    factors = [lr_factor(s, warmup=2, decay=4, max_steps=10) for s in range(11)]
    assert factors == pytest.approx([0.5, 1, 1, 1, 1, 1, 1, 0.75, 0.5, 0.25, 0])
    assert [lr_factor(s, warmup=0, decay=0, max_steps=10) for s in (0, 9, 10)] == [1, 1, 1]


def test_resume_takes_the_configured_ema_decay(tiny_data, tiny_config_dict, tmp_path):
    Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, max_steps=2, checkpoint_every=1))).train(stop_at=1)
    resumed = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, max_steps=2, checkpoint_every=1,
                                                        ema_decay=0.5)))
    resumed.setup("latest")
    assert resumed.step == 1 and resumed.ema.num_updates == 1 and resumed.ema.decay == 0.5


def test_two_processes_run_two_steps(tiny_data, tiny_config_dict, tmp_path):
    config = tiny_config_dict(tiny_data, tmp_path / "run", max_steps=2, checkpoint_every=2)
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
           "-m", "interanimate", "train", "--config", str(path)]
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=500)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000002"]
    # accelerate saved one RNG state per process
    assert sorted(p.name for p in (tmp_path / "run" / "checkpoints" / "step-00000002").glob("random_states_*")) == \
        ["random_states_0.pkl", "random_states_1.pkl"]


def test_config_names_bad_keys(tiny_data, tiny_config_dict, tmp_path):
    with pytest.raises(ConfigError, match=r"optim\.lrr"):
        config_from_dict(tiny_config_dict(tiny_data, tmp_path, **{"optim.lrr": 1}))
    with pytest.raises(ConfigError, match=r"optim\.lr: expected a number"):
        config_from_dict(tiny_config_dict(tiny_data, tmp_path, **{"optim.lr": "fast"}))
    with pytest.raises(ConfigError, match="trainable"):
        config_from_dict(tiny_config_dict(tiny_data, tmp_path, trainable=["everything"]))
    with pytest.raises(ConfigError, match="max_steps"):
        config_from_dict(tiny_config_dict(tiny_data, tmp_path), overrides=["max_steps=0"])
    with pytest.raises(ConfigError, match="lr_decay_steps"):
        config_from_dict(tiny_config_dict(tiny_data, tmp_path), overrides=["optim.lr_decay_steps=3"])  # > max_steps
    assert config_from_dict(tiny_config_dict(tiny_data, tmp_path), overrides=["optim.lr=1e-3"]).optim.lr == 1e-3


def test_config_base_is_read_first_and_merged_under_the_file(tiny_data, tiny_config_dict, tmp_path):
    (tmp_path / "stage1.yaml").write_text(yaml.safe_dump(tiny_config_dict(tiny_data, tmp_path, max_steps=3,
                                                                          **{"loss.alpha_hand": 2.0})))
    sub = tmp_path / "more"
    sub.mkdir()
    (sub / "stage2.yaml").write_text("base: ../stage1.yaml\nmax_steps: 5\nloss: {p_mean: 0.0}\n")
    stage1, stage2 = load_config(tmp_path / "stage1.yaml"), load_config(sub / "stage2.yaml", ["loss.p_std=1.0"])
    assert (stage1.max_steps, stage2.max_steps) == (3, 5)
    assert (stage2.loss.alpha_hand, stage2.loss.p_mean, stage2.loss.p_std) == (2.0, 0.0, 1.0)  # merged key by key
    assert stage2.model == stage1.model and stage2.data == stage1.data and stage2.output_dir == stage1.output_dir
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ConfigError, match="loop"):
        load_config(tmp_path / "loop.yaml")
    (tmp_path / "gone.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError, match="nowhere.yaml"):
        load_config(tmp_path / "gone.yaml")
    configs = Path(__file__).resolve().parents[2] / "configs"  # the bundled model's two stages
    shipped = load_config(configs / "train_small_stage2.yaml")
    assert shipped.max_steps > load_config(configs / "train_small.yaml").max_steps and shipped.loss.alpha_hand == 8.0


def test_residual_target_is_scaled_to_unit_std_and_exported(tiny_data, tiny_config_dict, tmp_path):
    config = config_from_dict(tiny_config_dict(tiny_data, tmp_path, max_steps=1, residual_to_reference=True))
    trainer = Trainer(config)
    trainer.train()
    scale = trainer.residual_scale
    assert 0 < scale < 10 and scale == trainer.measure_residual_scale()  # a pure function of data and seed
    batch = collate([trainer.train_set[i] for i in range(min(4, len(trainer.train_set)))])
    z = trainer.vae.encode(batch["frames"].flatten(0, 1)).latent_dist.mode() * trainer.vae.config.scaling_factor
    z_ref = trainer.vae.encode(batch["reference"]).latent_dist.mode() * trainer.vae.config.scaling_factor
    residual = z.unflatten(0, batch["frames"].shape[:2]) - z_ref.unsqueeze(1)  # (N, F, C, h, w)
    assert 0.3 < float((residual / scale).std()) < 3  # about unit variance, as EDM's sigma_data = 1 assumes
    from interanimate.pipelines.pipeline import InterAnimatePipeline
    loaded = InterAnimatePipeline.from_pretrained(tmp_path / "final")
    assert loaded.config.residual_to_reference and loaded.config.residual_scale == pytest.approx(scale)


@pytest.mark.parametrize("kind, cls", [("temporal", "AutoencoderKLTemporalDecoder"), ("kl2d", "AutoencoderKL")])
def test_learned_first_stage_trains_saves_and_is_reused(tiny_data, tiny_config_dict, tmp_path, monkeypatch, kind, cls):
    import interanimate.training.trainer as trainer_module

    calls = []
    real_train_vae = trainer_module.train_vae

    def spy(vae, *args, **kwargs):
        before = {k: v.clone() for k, v in vae.state_dict().items()}
        real_train_vae(vae, *args, **kwargs)
        calls.append((before, {k: v.clone() for k, v in vae.state_dict().items()}))

    monkeypatch.setattr(trainer_module, "train_vae", spy)
    changes = {"max_steps": 1, "model.vae.kind": kind, "model.vae.train_steps": 2, "model.vae.batch_size": 1,
               "model.vae.num_frames": 2}
    trainer = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, **changes)))
    trainer.train()
    assert len(calls) == 1
    before, after = calls[0]
    assert any(not torch.equal(before[k], after[k]) for k in before), "the first stage did not train"
    folder = tmp_path / "first_stage" / "vae"
    assert yaml.safe_load((folder / "config.json").read_text())["_class_name"] == cls
    used = trainer.vae.state_dict()  # the diffusion stage uses the trained first stage, frozen
    assert all(torch.equal(used[k], after[k]) for k in after)
    assert 0 < trainer.vae.config.scaling_factor < 100 and trainer.vae.config.scaling_factor != 1.0
    log = (tmp_path / "logs" / "first_stage.csv").read_text().splitlines()
    assert [line.split(",")[0] for line in log[1:]] == ["1", "2"]
    assert (tmp_path / "final" / "vae" / "config.json").is_file()
    again = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path / "second", **changes)))
    shutil.copytree(tmp_path / "first_stage", tmp_path / "second" / "first_stage")
    again.build_data()
    again.build_models()
    assert len(calls) == 1, "a trained first stage in the output folder is loaded, not trained again"
    assert all(torch.equal(again.vae.state_dict()[k], after[k]) for k in after)


def test_identity_width_mismatch_fails_in_one_line_before_anything_is_written(tiny_data, tiny_config_dict, tmp_path):
    from interanimate.errors import UserError

    synth = {"identities": 2, "clips_per_class": 1, "frames": 4, "size": [32, 32], "progress": False}
    unrendered = tiny_config_dict(tmp_path / "data", tmp_path / "run", **{"data.synth": synth})  # tiny: 16-d
    with pytest.raises(UserError, match=r"SynthHF's identity vectors \(data.synth\) are 128-d but the model's "
                                        r"id_embed_dim is 16; set model.unet_overrides.id_embed_dim: 128"):
        Trainer(config_from_dict(unrendered)).train()
    assert not (tmp_path / "data").exists() and not (tmp_path / "run").exists()
    wider = tiny_config_dict(tiny_data, tmp_path / "run", **{"model.unet_overrides": {"id_embed_dim": 128}})
    with pytest.raises(UserError, match=r"identity vectors in .* are 16-d but the model's id_embed_dim is 128"):
        Trainer(config_from_dict(wider)).train()
    assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="data.synth: unknown key.*clips_per_klass"):
        config_from_dict(tiny_config_dict(tiny_data, tmp_path, **{"data.synth": {**synth, "clips_per_klass": 1}}))


def test_adamw_8bit_keeps_8_bit_moments_and_trains(tiny_data, tiny_config_dict, tmp_path):
    """optim.name adamw_8bit (bitsandbytes' AdamW8bit, the ZeRO-2 launch file's low-memory option) on the CPU."""
    pytest.importorskip("bitsandbytes")
    trainer = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, **{"optim.name": "adamw_8bit"})))
    trainer.build_data()
    trainer.build_models()
    trainer.residual_scale = 1.0
    before = _unet_state(trainer)
    parts = trainer.training_step(collate([trainer.train_set[0]]), step_generator(0, 0, 0))
    parts["loss"].backward()
    trainer.optimizer.step()
    assert type(trainer.optimizer).__name__ == "AdamW8bit"
    big = [p for _, p in trainer.trainable_named if p.numel() >= 4096]  # bitsandbytes keeps small tensors in 32 bit
    assert big and all(trainer.optimizer.state[p]["state1"].dtype == torch.uint8 for p in big)
    after = _unet_state(trainer)
    assert any(not torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("damage", ["truncated weights", "cut state", "empty optimizer"])
def test_a_damaged_latest_checkpoint_falls_back_to_the_one_before(damage, tiny_data, tiny_config_dict, tmp_path):
    """A damaged newest checkpoint is skipped (said in the log) and the run resumes from the previous one, to the
    same weights as an uninterrupted run; when every checkpoint is damaged, one line names the file."""
    changes = {"max_steps": 3, "checkpoint_every": 1, "checkpoints_keep": 2}
    straight = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path / "a", **changes)))
    straight.train()
    run = tmp_path / "b"
    Trainer(config_from_dict(tiny_config_dict(tiny_data, run, **changes))).train(stop_at=2)
    older, newest = list_checkpoints(run)
    files = {"truncated weights": newest / "model.safetensors", "cut state": newest / "trainer_state.json",
             "empty optimizer": newest / "optimizer.bin"}
    target = files[damage]
    target.write_bytes(target.read_bytes()[: len(target.read_bytes()) // 2] if damage != "empty optimizer" else b"")
    resumed = Trainer(config_from_dict(tiny_config_dict(tiny_data, run, **changes)))
    logged = []
    resumed.log = lambda message: logged.append(message)
    resumed.train(resume="latest")
    assert any("step-00000002 is damaged" in m and target.name in m for m in logged), logged
    assert any(f"resumed from {older}" in m for m in logged), logged
    a, b = _unet_state(straight), _unet_state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
    for path in list_checkpoints(run):  # now every one damaged
        weights = path / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    with pytest.raises(UserError, match="every checkpoint .* is damaged .*model.safetensors"):
        Trainer(config_from_dict(tiny_config_dict(tiny_data, run, **changes))).train(resume="latest")
