"""One conditioning path: the trainer and the pipeline give the UNet the same inputs for the same batch; identity
dropout happens at the configured rate; the region block gets the masks inference draws from the same keypoints."""

import numpy as np
import pytest
import torch

from interanimate.training.config import config_from_dict
from interanimate.training.trainer import Trainer, collate, step_generator


def _spy(unet) -> list[dict]:
    """Record the arguments of every call of the UNet's forward (which still runs); returns the list of calls."""
    import functools

    calls, forward = [], unet.forward

    @functools.wraps(forward)  # keeps the signature: the callers look at which inputs the UNet takes
    def spy(sample, timestep, **kwargs):
        calls.append({"sample": sample.detach().clone(),
                      **{k: v.detach().clone() for k, v in kwargs.items() if torch.is_tensor(v)}})
        return forward(sample, timestep, **kwargs)

    unet.forward = spy
    return calls


def _trainer(tiny_data, tiny_config_dict, tmp_path, **changes):
    trainer = Trainer(config_from_dict(tiny_config_dict(tiny_data, tmp_path, **changes)))
    trainer.build_data()
    trainer.build_models()
    trainer.residual_scale = 1.0
    return trainer


HAND_GUIDANCE = {"model.unet_overrides": {"hand_map_channels": 3, "hand_prior": True},
                 "residual_to_reference": True, "residual_scale": 0.5}


@pytest.mark.parametrize("changes", [{}, HAND_GUIDANCE], ids=["paper", "hand map + hand prior"])
def test_training_step_and_pipeline_give_the_unet_the_same_conditions(tiny_data, tiny_config_dict, tmp_path,
                                                                      changes):
    no_drops = {"conditioning.drop_all": 0.0, "conditioning.drop_image": 0.0, "conditioning.drop_latents": 0.0,
                "conditioning.drop_identity": 0.0, "conditioning.noise_aug_max": 0.0}
    trainer = _trainer(tiny_data, tiny_config_dict, tmp_path, **no_drops, **changes)
    if changes:
        trainer.residual_scale = 0.5
        assert trainer.takes_hand_prior
    calls = _spy(trainer.unet)
    item = trainer.val_set[0]
    batch = collate([item])
    trainer.unet.eval(), trainer.image_encoder.eval()  # as the pipeline runs them
    trainer.training_step(batch, step_generator(0, 0, 0))
    trained = calls[-1]
    pipe = trainer.pipeline()
    pipe(item["reference"][None], item["pose"][None], hand_mask=item["hand_mask"][None],
         face_mask=item["face_mask"][None], id_embedding=item["identity_embedding"][None], num_inference_steps=1,
         max_guidance_scale=1.0, noise_aug_strength=0.0, tile_size=None, fps=trainer.config.conditioning.fps,
         motion_bucket_id=trainer.config.conditioning.motion_bucket_id, generator=torch.Generator().manual_seed(0))
    sampled = calls[-1]
    raw = trained
    # the sampler encodes the pose (and hand prior) once for all its steps and tiles (UNetConditions.pose_encoded):
    # the same inputs must give it the same encoding
    assert "pose_features" in sampled and "pose_frames" not in sampled and "hand_prior" not in sampled
    with torch.no_grad():
        encoded = trainer.unet.encode_pose(raw["pose_frames"], raw.get("hand_prior"))
    trained = {k: v for k, v in raw.items() if k not in ("pose_frames", "hand_prior")} | {"pose_features": encoded}
    channels = trainer.vae.config.latent_channels
    assert set(trained) == set(sampled)
    for key in sorted(set(trained) - {"sample"}):
        # the prior goes through the first stage again (batched differently): float noise, not a different input
        tol = dict(atol=1e-3, rtol=1e-3) if key == "pose_features" and changes else {}
        torch.testing.assert_close(trained[key], sampled[key], msg=lambda m, key=key: f"{key}: {m}", **tol)
    # the conditioning half of the input (the reference latent on channels), not the noisy latents
    torch.testing.assert_close(trained["sample"][:, :, channels:], sampled["sample"][:, :, channels:])
    assert {"pose_frames", "hand_mask", "face_mask", "id_embedding", "encoder_hidden_states",
            "added_time_ids"} <= set(raw)
    assert ("hand_prior" in raw) == bool(changes)
    if changes:
        assert raw["pose_frames"].shape[2] == 6 and raw["hand_prior"].abs().sum() > 0


def test_unconditional_rule_is_shared(tiny_data, tiny_config_dict, tmp_path):
    """A batch dropped whole trains what the sampler's unconditional pass feeds: no pose, zero image embedding and
    reference latent, masks and identity kept."""
    trainer = _trainer(tiny_data, tiny_config_dict, tmp_path, **{"conditioning.drop_all": 1.0,
                                                                 "conditioning.drop_identity": 0.0})
    calls = _spy(trainer.unet)
    batch = collate([trainer.train_set[0]])
    trainer.training_step(batch, step_generator(0, 0, 0))
    call = calls[-1]
    channels = trainer.vae.config.latent_channels
    assert "pose_frames" not in call
    assert call["encoder_hidden_states"].abs().sum() == 0 and call["sample"][:, :, channels:].abs().sum() == 0
    torch.testing.assert_close(call["id_embedding"], batch["identity_embedding"])
    torch.testing.assert_close(call["hand_mask"], batch["hand_mask"])


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_identity_dropout_happens_at_the_configured_rate(tiny_data, tiny_config_dict, tmp_path, monkeypatch, rate):
    from interanimate import losses

    trainer = _trainer(tiny_data, tiny_config_dict, tmp_path, **{"conditioning.drop_identity": rate})
    seen = []

    def capture(unet, latents, sigma, noise, conditions, **kwargs):
        seen.append(conditions.id_embedding)
        zero = latents.sum() * 0
        return zero, {"loss_diff": zero, "loss_orth": zero}

    monkeypatch.setattr(losses, "diffusion_training_loss", capture)
    items = [trainer.train_set[i % len(trainer.train_set)] for i in range(8)]
    batch = collate(items)
    for step in range(50):
        trainer.training_step(batch, step_generator(0, 0, step))
    ids = torch.cat(seen)  # (400, D)
    dropped = (ids.abs().sum(dim=1) == 0).float().mean().item()
    kept = ids[ids.abs().sum(dim=1) > 0]
    assert abs(dropped - rate) < 0.07, dropped  # 400 draws: std 0.023 at rate 0.3
    if len(kept):  # what is not dropped is the batch's own vector
        assert all(any(torch.equal(row, ref) for ref in batch["identity_embedding"]) for row in kept)


def test_region_block_masks_equal_what_inference_draws_from_the_same_keypoints(tiny_data, tiny_config_dict,
                                                                                 tmp_path):
    from interanimate.data.format import load_annotations
    from interanimate.pipelines.conditioning import conditions_from_keypoints

    trainer = _trainer(tiny_data, tiny_config_dict, tmp_path)
    calls = _spy(trainer.unet)
    item = trainer.train_set[1]
    record = trainer.train_set.records[1]
    ann = load_annotations(trainer.train_set.root, record)
    idx = item["frame_indices"].numpy()
    expected = conditions_from_keypoints(ann["keypoints"][idx], ann["scores"][idx], (record.height, record.width),
                                         tuple(trainer.config.data.size))
    torch.testing.assert_close(item["hand_mask"], expected["hand_mask"])
    torch.testing.assert_close(item["face_mask"], expected["face_mask"])
    torch.testing.assert_close(item["pose"], expected["pose_frames"])
    # the stored annotation masks are kept apart, for weighting the loss
    assert np.array_equal(item["hand_silhouette"][:, 0].numpy(), ann["hand_mask"][idx].astype(np.float32))
    trainer.training_step(collate([item]), step_generator(0, 0, 0))
    torch.testing.assert_close(calls[-1]["hand_mask"][0], expected["hand_mask"])
    torch.testing.assert_close(calls[-1]["face_mask"][0], expected["face_mask"])


def test_loss_is_weighted_by_the_configured_masks(tiny_data, tiny_config_dict, tmp_path, monkeypatch):
    from interanimate import losses

    seen = {}

    def capture(unet, latents, sigma, noise, conditions, loss_hand_mask=None, loss_face_mask=None, **kwargs):
        seen["hand"] = loss_hand_mask
        zero = latents.sum() * 0
        return zero, {"loss_diff": zero, "loss_orth": zero}

    monkeypatch.setattr(losses, "diffusion_training_loss", capture)
    for weight, key in (("annotation", "hand_silhouette"), ("keypoints", "hand_mask")):
        trainer = _trainer(tiny_data, tiny_config_dict, tmp_path / weight, **{"loss.weight_masks": weight})
        batch = collate([trainer.train_set[0]])
        trainer.training_step(batch, step_generator(0, 0, 0))
        torch.testing.assert_close(seen["hand"], batch[key])
