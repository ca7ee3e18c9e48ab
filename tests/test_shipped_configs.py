"""Every file in configs/ loads with the loader its command uses, and the training configs run as shipped.

A config that only the tests' hand-made data would accept (``configs/train_tiny.yaml`` once named a UNet taking
16-d identity vectors and SynthHF data, whose vectors are 128-d) fails here, not for the user.

The runs go through ``interanimate train`` itself (``interanimate.cli.main``, in this process: a subprocess would
spend seconds importing torch again) with ``--set`` overrides only where the shipped values would take minutes or
write into the checkout; each run says which and why. Everything else (model sizes, first stage, data parameters
other than the number of identities, losses, conditioning, optimiser) is as shipped.
"""

from pathlib import Path

import pytest

from interanimate.cli import main
from interanimate.training.state import list_checkpoints

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _loader(path: Path):
    """The function ``interanimate`` loads ``path`` with (``train --config`` / ``motion train --config`` /
    ``dataset generate``)."""
    if path.name.startswith("train_"):
        from interanimate.training.config import load_config
        return load_config
    if path.name.startswith("motion_"):
        from interanimate.motion.train import load_config
        return load_config
    if path.name.startswith("dataset_"):  # interanimate dataset plan/generate RECIPE
        from interanimate.datasets.recipe import load_recipe
        return load_recipe
    return None


@pytest.mark.parametrize("path", sorted(CONFIGS.iterdir()), ids=lambda p: p.name)
def test_every_shipped_config_loads(path):
    load = _loader(path)
    assert load is not None, f"configs/{path.name}: no loader known for it; add it to _loader"
    config = load(path)
    if path.name.startswith("train_") and config.data.synth is not None and config.model.init_from is None:
        from interanimate.data.synth.identity import EMBEDDING_DIM
        from interanimate.training.build import id_embed_dim
        assert id_embed_dim(config.model) in (None, EMBEDDING_DIM), "the UNet cannot take SynthHF's identity vectors"


def _train(config: str, *overrides: str) -> None:
    """``interanimate train --config configs/CONFIG --set KEY=VALUE ...`` (an override starting ``--`` is an option)."""
    argv = ["train", "--config", str(CONFIGS / config)]
    for item in overrides:
        argv += [item] if item.startswith("--") else ["--set", item]
    assert main(argv) == 0


def test_train_tiny_runs_as_shipped(tmp_path):
    _train("train_tiny.yaml",
           f"output_dir={tmp_path / 'run'}", f"data.root={tmp_path / 'data'}",  # not into the checkout
           "max_steps=1",  # 20 steps: a minute on a loaded 2-core CPU
           "model.vae.train_steps=1")  # the first stage's 10 steps: 15 s more
    assert (tmp_path / "data" / "manifest.jsonl").is_file()  # data.synth as shipped: 4 identities, 72 clips
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000001"]
    assert (tmp_path / "run" / "final" / "model_index.json").is_file()


def test_train_wan_tiny_runs_as_shipped(tmp_path):
    _train("train_wan_tiny.yaml",
           f"output_dir={tmp_path / 'run'}", f"data.root={tmp_path / 'data'}",  # not into the checkout
           "max_steps=2")  # 20 steps: half a minute more
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000002"]
    index = (tmp_path / "run" / "final" / "model_index.json").read_text()
    assert "InterAnimateWanPipeline" in index


def test_train_small_runs_all_stages_as_shipped(tmp_path):
    """Stage 1, stage 2 resumed from it, stage 3 from stage 2's export (``make train-small``)."""
    common = (f"output_dir={tmp_path / 'run'}", f"data.root={tmp_path / 'data'}",  # not into the checkout
              "data.synth.identities=2",  # 40 identities (720 clips of 24 frames): half a minute to render
              "validation_samples=1", "validation_steps=2")  # 3 previews of 10 sampler steps: ten seconds
    # 19000 and 26000 steps are hours; lr_decay_steps must stay within max_steps (1: the anneal still runs)
    _train("train_small.yaml", *common, "max_steps=1", "optim.lr_decay_steps=1")
    assert (tmp_path / "run" / "first_stage" / "vae" / "config.json").is_file()  # the PCA first stage, fitted
    _train("train_small_stage2.yaml", *common, "max_steps=2", "optim.lr_decay_steps=1", "--resume=latest")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == ["step-00000002"]  # checkpoints_keep: 1
    assert (tmp_path / "run" / "final" / "model_index.json").is_file()
    # stage 3 continues from stage 2's export (model.init_from: runs/small/final as shipped) on dlib-identity data
    _train("train_small_stage3.yaml", f"output_dir={tmp_path / 'run3'}", f"data.root={tmp_path / 'data3'}",
           "data.synth.identities=2", "validation_samples=1", "validation_steps=2",
           f"model.init_from={tmp_path / 'run' / 'final'}", "max_steps=2", "optim.lr_decay_steps=1",
           "optim.lr_warmup_steps=1", "--resume=latest")
    assert (tmp_path / "run3" / "final" / "model_index.json").is_file()
    from interanimate.data.format import load_annotations, read_manifest
    record = read_manifest(tmp_path / "data3")[0]
    assert record.extra["identity_model"] == "dlib" and load_annotations(tmp_path / "data3", record)[
        "identity_embedding"].shape == (128,)


def test_train_hands_runs_as_shipped(tmp_path):
    """Stage 4a (``make train-hands``) from an export — here the bundled model, itself a stage-4a export (fp16) — at
    128×128 with the hand shape map; then stage 4b from 4a's export, widened with the hand prior's zero convolution.
    Both exports sample from the hand prior at 0.2 by default."""
    from interanimate.pipelines import bundled_model_dir
    from interanimate.pipelines.pipeline import InterAnimatePipeline

    small = ("data.synth.identities=2",  # 120 identities (2160 clips at 128×128): ten minutes to render
             "validation_samples=1", "validation_steps=2", "max_steps=2", "optim.lr_decay_steps=1",
             "optim.lr_warmup_steps=1", "--resume=latest")
    _train("train_small_hands.yaml", f"output_dir={tmp_path / 'run'}", f"data.root={tmp_path / 'data'}",
           f"model.init_from={bundled_model_dir()}", *small)
    pipe = InterAnimatePipeline.from_pretrained(tmp_path / "run" / "final")
    assert pipe.takes_hand_map() and pipe.unet.pose_encoder.in_channels == 6 and not pipe.takes_hand_prior()
    assert pipe.vae.config.sample_size == 128 and pipe.config.hand_prior_strength == 0.2
    _train("train_small_hand_prior.yaml", f"output_dir={tmp_path / 'run4b'}", f"data.root={tmp_path / 'data'}",
           f"model.init_from={tmp_path / 'run' / 'final'}", *small)
    pipe = InterAnimatePipeline.from_pretrained(tmp_path / "run4b" / "final")
    assert pipe.takes_hand_prior() and pipe.config.hand_prior_strength == 0.2


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("dataset_*.yaml")), ids=lambda p: p.name)
def test_every_dataset_recipe_plans_as_shipped(path, tmp_path):
    """`interanimate dataset plan RECIPE` as shipped: the job list has every planned clip, identity-disjoint splits.
    (Generating them takes minutes to hours; tests/dataset_engine runs the engine on a shipped recipe, cut down.)"""
    import json

    from interanimate.datasets.recipe import load_recipe

    out = tmp_path / "plan"
    assert main(["dataset", "plan", str(path), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "plan.jsonl").read_text().splitlines() if line.strip()]
    assert len(rows) == sum(load_recipe(path).clips_by_class().values())
    splits = {}
    for row in rows:
        splits.setdefault(row["identity"], set()).add(row["split"])
    assert all(len(s) == 1 for s in splits.values())
