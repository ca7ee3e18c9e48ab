"""The Wan backbone through the project's trainer (tiny, CPU): one step moves only the trainable weights (LoRA and
the added modules), the loss falls, a killed run resumes to the uninterrupted one, the export loads strictly and
samples; the config's Wan checks."""

import copy

import pytest
import torch

from interanimate.training.config import ConfigError, config_from_dict
from interanimate.training.trainer import Trainer, collate, list_checkpoints, step_generator

WAN = {"model.backbone": "wan", "data.num_frames": 5,
       "model.wan": {"transformer": "wan-animate-tiny", "overrides": {"id_embed_dim": 16}, "lora_rank": 4,
                     "flow_shift": 3.0},
       "trainable": ["lora", "wan_animate", "interaction_latents", "region", "id_preserver"]}


def _config(tiny_data, tiny_config_dict, folder, **changes):
    return config_from_dict(tiny_config_dict(tiny_data, folder, **copy.deepcopy({**WAN, **changes})))


def _state(trainer):
    return {k: v.detach().clone() for k, v in trainer.accelerator.unwrap_model(trainer.unet).state_dict().items()}


def test_one_step_moves_only_lora_and_the_added_modules(tiny_data, tiny_config_dict, tmp_path):
    trainer = Trainer(_config(tiny_data, tiny_config_dict, tmp_path))
    trainer.build_data()
    trainer.build_models()
    names = {n for n, _ in trainer.trainable_named}
    assert any(".lora_A." in n for n in names) and any(n.startswith("unet.region_blocks.") for n in names)
    assert not any(".base_layer." in n for n in names)  # the base stays frozen under LoRA
    before = _state(trainer)
    parts = trainer.training_step(collate([trainer.train_set[0]]), step_generator(0, 0, 0))
    assert all(torch.isfinite(v) for v in parts.values())
    parts["loss"].backward()
    trainer.optimizer.step()
    after = _state(trainer)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    trainable = {n.removeprefix("unet.") for n in names}
    assert changed and changed <= trainable, sorted(changed - trainable)[:5]
    assert any(".lora_B." in k for k in changed) and any(k.startswith("region_blocks.") for k in changed)


def test_the_loss_falls(tiny_data, tiny_config_dict, tmp_path):
    """The same batch, noise and noise levels scored before and after 30 steps."""
    cfg = _config(tiny_data, tiny_config_dict, tmp_path, max_steps=30, checkpoint_every=30, **{"optim.lr": 3e-3},
                  ema_decay=0.0)
    trainer = Trainer(cfg)
    trainer.build_data()
    trainer.build_models()
    batch = collate([trainer.train_set[i] for i in range(len(trainer.train_set))])

    def score():
        with torch.no_grad():
            return float(trainer.training_step(batch, torch.Generator().manual_seed(7))["loss_diff"])

    start = score()
    trainer.train()
    end = score()
    print(f"loss_diff {start:.4f} -> {end:.4f}")
    assert end < 0.9 * start


def test_killed_run_resumes_to_the_uninterrupted_one_and_exports_a_strict_pipeline(tiny_data, tiny_config_dict,
                                                                                    tmp_path):
    from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline

    changes = {"max_steps": 3, "checkpoint_every": 1}
    straight = Trainer(_config(tiny_data, tiny_config_dict, tmp_path / "a", **changes))
    straight.train()
    interrupted = Trainer(_config(tiny_data, tiny_config_dict, tmp_path / "b", **changes))
    interrupted.train(stop_at=1)
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == ["step-00000001"]
    resumed = Trainer(_config(tiny_data, tiny_config_dict, tmp_path / "b", **changes))
    resumed.train(resume="latest")
    a, b = _state(straight), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), "resumed weights differ from the uninterrupted run"
    assert all(torch.equal(straight.ema.shadow[k], resumed.ema.shadow[k]) for k in straight.ema.shadow)
    assert (tmp_path / "b" / "validation" / "step-00000003.png").is_file()
    # the export: LoRA merged, a plain InterAnimate Wan transformer, loaded strictly, sampling 7 frames (2 segments)
    pipe = InterAnimateWanPipeline.from_pretrained(tmp_path / "b" / "final")
    assert not any("lora" in k for k in pipe.transformer.state_dict())
    item = resumed.val_set[0]
    pose = torch.cat([item["pose"], item["pose"][:2]])  # (7, 3, H, W)
    out = pipe(item["reference"], pose, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).frames
    assert out.shape == (1, 7, 3, 32, 32) and torch.isfinite(out).all()


@pytest.mark.parametrize("changes, message", [
    ({"data.num_frames": 4}, "4k \\+ 1"),
    ({"model.wan.lora_rank": 0}, "trainable: lora needs"),
    ({"trainable": ["unet"]}, "unknown group"),
    ({"residual_to_reference": True}, "SVD backbone"),
    ({"model.wan.text_encoder": "/x"}, "given together"),
])
def test_the_wan_config_is_checked_at_load(tiny_data, tiny_config_dict, tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        _config(tiny_data, tiny_config_dict, tmp_path, **changes)


def _user_folders(root):
    """Tiny stand-ins of the user's Wan2.2-Animate diffusers folders: transformer/, vae/, image_encoder/ (CLIP
    vision), text_encoder/ (UMT5) and tokenizer/."""
    from diffusers import AutoencoderKLWan
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import CLIPVisionConfig, CLIPVisionModel, PreTrainedTokenizerFast, UMT5Config, UMT5EncoderModel

    from interanimate.models.wan_configs import build_wan_base

    torch.manual_seed(1)
    build_wan_base("wan-animate-tiny").save_pretrained(root / "transformer")
    AutoencoderKLWan(base_dim=16, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1,
                     temperal_downsample=[False, True, True]).save_pretrained(root / "vae")
    CLIPVisionModel(CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                                     image_size=32, patch_size=8)).save_pretrained(root / "image_encoder")
    UMT5EncoderModel(UMT5Config(vocab_size=64, d_model=32, d_kv=8, d_ff=64, num_layers=1, num_heads=2)) \
        .save_pretrained(root / "text_encoder")
    words = "a person touches their face with hand <pad> </s> <unk>".split()
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>", unk_token="<unk>") \
        .save_pretrained(root / "tokenizer")
    return {f"model.wan.{k}": str(root / k) for k in ("vae", "image_encoder", "text_encoder", "tokenizer")} | \
        {"model.wan.base": str(root / "transformer")}


def test_the_users_wan_folders_are_loaded_strictly_and_travel_with_the_export(tiny_data, tiny_config_dict, tmp_path):
    from diffusers import WanAnimateTransformer3DModel

    from interanimate.errors import UserError
    from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline

    folders = _user_folders(tmp_path / "wan")
    cfg = _config(tiny_data, tiny_config_dict, tmp_path / "run", max_steps=1, checkpoint_every=1, **folders)
    trainer = Trainer(cfg)
    trainer.train()
    base = WanAnimateTransformer3DModel.from_pretrained(tmp_path / "wan" / "transformer").state_dict()
    pipe = InterAnimateWanPipeline.from_pretrained(tmp_path / "run" / "final")
    exported = pipe.transformer.state_dict()
    frozen = [k for k in base if not k.startswith(("pose_patch_embedding.", "motion_encoder.", "face_encoder.",
                                                    "face_adapter."))]
    assert any(".attn1.to_q." in k for k in frozen)
    # the base's weights are the user's (LoRA merged into the attention projections; everything else untouched)
    untouched = [k for k in frozen if not any(t in k for t in (".to_q.", ".to_k.", ".to_v.", ".to_out.0."))]
    assert untouched and all(torch.equal(base[k], exported[k]) for k in untouched)
    assert type(pipe.text_encoder).__name__ == "UMT5EncoderModel" and pipe.tokenizer is not None
    text = pipe.text_condition("cpu")
    assert text.shape == (1, 512, 32) and text[0, :3].abs().sum() > 0 and text[0, 20:].abs().sum() == 0
    assert type(pipe.image_encoder).__name__ == "CLIPVisionModel"
    # a base of another size than model.wan.transformer names: one line
    other = _config(tiny_data, tiny_config_dict, tmp_path / "run2", **{**folders, "model.wan.overrides":
                                                                          {"id_embed_dim": 16, "ffn_dim": 96}})
    with pytest.raises(UserError, match="is not a wan-animate-tiny"):
        Trainer(other).build_models()


def test_a_bf16_base_with_fp32_trained_modules_trains_samples_and_exports(tiny_data, tiny_config_dict, tmp_path):
    """What mixed precision does on a GPU (``cast_frozen``; CPU runs stay fp32): the frozen base in bf16, LoRA and
    the added modules fp32; a step under autocast, a preview of the mixed model, an export that loads."""
    from interanimate.pipelines.wan_pipeline import InterAnimateWanPipeline
    from interanimate.training import wan_backbone

    trainer = Trainer(_config(tiny_data, tiny_config_dict, tmp_path))
    trainer.build_data()
    trainer.build_models()
    wan_backbone.cast_frozen(trainer, torch.bfloat16)
    dtypes = {n: p.dtype for n, p in trainer.unet.named_parameters()}
    assert dtypes["blocks.0.attn1.to_q.base_layer.weight"] == torch.bfloat16
    assert all(dtypes[n.removeprefix("unet.")] == torch.float32 for n, _ in trainer.trainable_named)
    before = {n: p.detach().clone() for n, p in trainer.trainable_named}
    parts = trainer.training_step(collate([trainer.train_set[0]]), step_generator(0, 0, 0))
    parts["loss"].backward()
    trainer.optimizer.step()
    assert torch.isfinite(parts["loss"]) and any(not torch.equal(before[n], p) for n, p in trainer.trainable_named)
    trainer.residual_scale = 1.0
    item = trainer.val_set[0]
    preview = trainer.pipeline()(item["reference"], item["pose"], hand_mask=item["hand_mask"][None],
                                 face_mask=item["face_mask"][None], num_inference_steps=1).frames
    assert preview.shape == (1, 5, 3, 32, 32) and torch.isfinite(preview).all()
    trainer.ema = None
    trainer.export(tmp_path / "export")
    pipe = InterAnimateWanPipeline.from_pretrained(tmp_path / "export", torch_dtype=torch.float32)
    assert {p.dtype for p in pipe.transformer.parameters()} == {torch.float32}


@pytest.mark.parametrize("key", ["base", "vae", "image_encoder", "text_encoder", "tokenizer"])
def test_a_missing_or_empty_wan_folder_is_one_line_before_anything_is_written(tiny_data, tiny_config_dict, tmp_path,
                                                                               key):
    from interanimate.errors import UserError

    (tmp_path / "empty").mkdir()
    for path, message in ((tmp_path / "nowhere", "no such folder"), (tmp_path / "empty", "missing")):
        changes = {f"model.wan.{key}": str(path)}
        if key in ("text_encoder", "tokenizer"):  # given together
            changes = {"model.wan.text_encoder": str(path), "model.wan.tokenizer": str(path)}
        cfg = _config(tiny_data, tiny_config_dict, tmp_path / "run", **changes)
        with pytest.raises(UserError, match=f"model.wan.*{message}"):
            Trainer(cfg).train()
        assert not (tmp_path / "run").exists()
