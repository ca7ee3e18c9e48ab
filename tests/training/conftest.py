"""A tiny InterHF-format dataset and a tiny training config for the trainer tests (CPU, seconds)."""

import numpy as np
import pytest

from interanimate import keypoints as K
from interanimate.config import set_dotted
from interanimate.data.format import ClipRecord, clip_dir, save_annotations, write_manifest
from interanimate.utils.video import write_mp4

SIZE = 32
ID_DIM = 16  # the tiny model's id_embed_dim


def make_clip(root, clip_id, identity, split, class_code, frames=8, seed=0):
    rng = np.random.default_rng(seed)
    video = np.full((frames, SIZE, SIZE, 3), 40, np.uint8)
    video[:, 8:24, 10:22] = (200, 160, 140)  # a "face"
    for t in range(frames):  # a "hand" moving right
        video[t, 20:28, 2 + 2 * t:8 + 2 * t] = (230, 190, 170)
    kpts = rng.uniform(4, SIZE - 4, (frames, 134, 2)).astype(np.float32)
    scores = np.ones((frames, 134), np.float32)
    hand, face = K.masks_for_sequence(kpts, scores, SIZE, SIZE)
    ann = {"keypoints": kpts, "scores": scores, "hand_mask": hand, "face_mask": face,
           "contact": np.zeros(frames, np.float32),
           "identity_embedding": rng.normal(size=ID_DIM).astype(np.float32)}
    folder = root / clip_dir(clip_id)
    write_mp4(folder / "video.mp4", video, fps=8)
    save_annotations(folder / "annotations.npz", ann, clip_id)
    return ClipRecord(clip_id, split, class_code, identity, frames, 8.0, SIZE, SIZE,
                      f"{clip_dir(clip_id)}/video.mp4", f"{clip_dir(clip_id)}/annotations.npz")


def make_dataset(root):
    records = [make_clip(root, f"c{i}", f"id{i}", "train" if i < 3 else "test", "LH-NP", seed=i) for i in range(4)]
    write_manifest(root, records)
    return root


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    return make_dataset(tmp_path_factory.mktemp("tiny_data"))


def _tiny_config_dict(data_root, output_dir, **changes) -> dict:
    config = {
        "output_dir": str(output_dir), "seed": 0, "device": "cpu", "max_steps": 2, "batch_size": 1,
        "checkpoint_every": 2, "log_every": 1, "validation_samples": 1, "validation_steps": 2, "ema_decay": 0.9,
        "trainable": ["unet", "pose_encoder", "interaction_latents", "region", "id_preserver", "image_encoder"],
        "data": {"root": str(data_root), "num_frames": 2, "size": [SIZE, SIZE]},
        "model": {"unet": "tiny", "vae": {"block_out_channels": [32, 32, 32, 32], "latent_channels": 4},
                  "image_encoder": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                    "image_size": 32, "patch_size": 8}},
        "optim": {"lr": 1e-3},
    }
    for key, value in changes.items():
        set_dotted(config, key, value)
    return config


@pytest.fixture(scope="session")
def tiny_config_dict():
    """``tiny_config_dict(data_root, output_dir, **{"dotted.key": value})`` -> a config dict for the tiny model."""
    return _tiny_config_dict
