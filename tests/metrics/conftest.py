"""Tiny networks saved in the real weight-file formats."""

import numpy as np
import pytest
import torch

TINY_VGG_WIDTHS = (4, 8, 8, 16, 16)


@pytest.fixture
def tiny_vgg_file(tmp_path):
    """A torchvision-format VGG16 state dict (features.N.*, classifier.*) with tiny random widths."""
    from interanimate.metrics.backbones.vgg import VGG16Features

    torch.manual_seed(0)
    state = VGG16Features(TINY_VGG_WIDTHS).state_dict()
    state.update({"classifier.0.weight": torch.randn(8, 16), "classifier.0.bias": torch.zeros(8)})
    path = tmp_path / "vgg16-397923af.pth"
    torch.save(state, path)
    return path


@pytest.fixture
def tiny_lpips_linear_file(tmp_path):
    """lpips' weights/v0.1 layout ('linN.model.1.weight', (1, C, 1, 1), non-negative) for the tiny VGG."""
    gen = torch.Generator().manual_seed(1)
    state = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=gen) for i, c in enumerate(TINY_VGG_WIDTHS)}
    path = tmp_path / "lpips_vgg.pth"
    torch.save(state, path)
    return path


@pytest.fixture
def corrupt_file(tmp_path):
    path = tmp_path / "corrupt.pth"
    path.write_bytes(b"PK\x03\x04 this is not a checkpoint" + bytes(range(64)))
    return path


@pytest.fixture
def astronaut_small():
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::8, ::8])  # (64, 64, 3) uint8


def astronaut_video(frames=17, size=64, shift=2):
    """A pan over skimage's astronaut: (F, size, size, 3) uint8."""
    import cv2
    from skimage import data

    image = cv2.resize(data.astronaut(), (size + shift * frames, size + shift * frames))
    return np.stack([image[:size, shift * t:shift * t + size] for t in range(frames)])


def perturb(video, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(video.astype(np.float64) + rng.normal(0, sigma, video.shape), 0, 255).astype(np.uint8)


@pytest.fixture(name="astronaut_video")
def astronaut_video_fixture():
    return astronaut_video


@pytest.fixture(name="perturb")
def perturb_fixture():
    return perturb


@pytest.fixture
def eval_dataset(tmp_path):
    """A two-clip dataset root (ground truth with hand/face masks) and a folder of perturbed mp4 predictions."""
    from interanimate.data.format import ClipRecord, clip_dir, save_annotations, write_manifest
    from interanimate.keypoints.layout import NUM_KEYPOINTS
    from interanimate.utils.video import write_mp4

    root, pred = tmp_path / "gt", tmp_path / "pred"
    records = []
    for index, clip_id in enumerate(("clip_a", "clip_b")):
        video = astronaut_video(shift=1 + index)
        frames, height, width = video.shape[:3]
        hand, face = np.zeros((frames, height, width), np.uint8), np.zeros((frames, height, width), np.uint8)
        face[:, 8:30, 20:40], hand[:, 40:56, 10:26] = 1, 1
        ann = {"keypoints": np.zeros((frames, NUM_KEYPOINTS, 2), np.float32),
               "scores": np.zeros((frames, NUM_KEYPOINTS), np.float32), "hand_mask": hand, "face_mask": face,
               "contact": np.zeros(frames, np.float32), "identity_embedding": np.zeros(8, np.float32)}
        write_mp4(root / clip_dir(clip_id) / "video.mp4", video)
        save_annotations(root / clip_dir(clip_id) / "annotations.npz", ann, clip_id)
        records.append(ClipRecord(clip_id, "test", None, f"id{index}", frames, 8.0, height, width,
                                  f"{clip_dir(clip_id)}/video.mp4", f"{clip_dir(clip_id)}/annotations.npz"))
        write_mp4(pred / f"{clip_id}.mp4", perturb(video, 12, seed=index))
    write_manifest(root, records)
    return root, pred
