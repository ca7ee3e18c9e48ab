"""The hand prior (models.conditioning.hand_prior_latents): silhouette from the hand shape map, skin tone from the
face, painted and encoded into the space the model diffuses in."""

import numpy as np
import pytest
import torch

from interanimate.keypoints.conditions import keypoint_conditions
from interanimate.models.conditioning import hand_alpha, hand_prior_latents, skin_tone, to_residual
from interanimate.models.first_stage import PatchPCAAutoencoder

SIZE = 64


def _hand_keypoints() -> tuple[np.ndarray, np.ndarray]:
    """One frame: a right hand (open, pointing up) in the left half of a 64×64 frame, nothing else confident."""
    from interanimate.keypoints.layout import HANDS, NUM_KEYPOINTS

    points = np.zeros((1, NUM_KEYPOINTS, 2), np.float32)
    scores = np.zeros((1, NUM_KEYPOINTS), np.float32)
    start = HANDS["right"].start if hasattr(HANDS["right"], "start") else HANDS["right"][0]
    wrist = np.array([16.0, 56.0])
    hand = [wrist]
    for finger, dx in enumerate((-8.0, -4.0, 0.0, 4.0, 8.0)):
        for joint in range(1, 5):
            hand.append(wrist + np.array([dx * (1 + 0.1 * joint), -6.0 * joint - 4.0]))
    points[0, start:start + 21] = np.stack(hand)
    scores[0, start:start + 21] = 1.0
    return points, scores


def test_hand_alpha_covers_the_drawn_hand_and_nothing_else():
    points, scores = _hand_keypoints()
    pose = keypoint_conditions(points, scores, SIZE, SIZE, hand_map=True)["pose"]  # (1, H, W, 6) uint8
    frames = torch.from_numpy(pose).permute(0, 3, 1, 2).float()[None] / 127.5 - 1  # (1, 1, 6, H, W)
    alpha = hand_alpha(frames)  # (1, 1, 1, H, W)
    assert alpha.shape == (1, 1, 1, SIZE, SIZE)
    assert alpha[..., 47:54, 13:20].mean() > 0.95  # the palm
    assert alpha[..., :, 40:].max() == 0  # the right half of the frame holds no hand
    empty = torch.full_like(frames, -1.0)
    assert hand_alpha(empty).max() == 0
    with pytest.raises(ValueError, match="no hand shape map"):
        hand_alpha(frames[:, :, :3])


def test_skin_tone_is_the_median_inside_the_face_and_falls_back_to_the_image():
    reference = torch.full((2, 3, SIZE, SIZE), -0.5)
    reference[:, :, 10:30, 20:44] = torch.tensor([0.6, 0.2, 0.0]).view(1, 3, 1, 1)  # the "face"
    reference[:, :, 12:14, 24:28] = -1.0  # an eye: the median ignores it
    mask = torch.zeros(2, 1, SIZE // 2, SIZE // 2)
    mask[0, :, 5:15, 10:22] = 1  # the face, at half resolution
    tone = skin_tone(reference, mask)
    torch.testing.assert_close(tone[0], torch.tensor([0.6, 0.2, 0.0]))
    torch.testing.assert_close(tone[1], torch.tensor([-0.5, -0.5, -0.5]))  # empty mask: the whole image's


def test_hand_prior_is_the_painted_reference_in_the_diffused_space():
    points, scores = _hand_keypoints()
    pose = keypoint_conditions(points, scores, SIZE, SIZE, hand_map=True)["pose"]
    frames = torch.from_numpy(np.concatenate([pose, np.zeros_like(pose)])).permute(0, 3, 1, 2).float()
    frames = (frames / 127.5 - 1)[None]  # (1, 2, 6, H, W): a hand in frame 0, none in frame 1
    g = torch.Generator().manual_seed(0)
    vae = PatchPCAAutoencoder(latent_channels=192, patch_size=8, sample_size=SIZE, scaling_factor=0.5)
    vae.fit(torch.rand(16, 3, SIZE, SIZE, generator=g) * 2 - 1)
    reference = torch.rand(1, 3, SIZE, SIZE, generator=g) * 0.2 - 0.6
    face = torch.zeros(1, 2, 1, SIZE, SIZE)
    face[..., 8:24, 36:56] = 1
    reference[:, :, 8:24, 36:56] = 0.4
    plain = hand_prior_latents(vae, reference, frames, face)  # (1, 2, C, 8, 8)
    ref_z = vae.encode(reference).latent_dist.mode() * 0.5  # (1, C, 8, 8)
    assert plain.shape == (1, 2, 192, 8, 8)
    torch.testing.assert_close(plain[:, 1], ref_z)  # no hand: the reference itself
    residual = hand_prior_latents(vae, reference, frames, face, residual_scale=0.25)
    torch.testing.assert_close(residual, to_residual(plain, ref_z, 0.25))
    changed = residual[0, 0].abs().amax(0) > 1e-4  # (8, 8) latent cells the painted hand changed
    assert changed[5:7, 1:3].all() and not changed[:, 5:].any()
    # decoded (a lossless basis), the hand region is the face's colour
    painted = vae.decode(plain[:, 0] / 0.5).sample  # (1, 3, H, W)
    assert (painted[0, :, 47:54, 13:20] - 0.4).abs().max() < 1e-3
