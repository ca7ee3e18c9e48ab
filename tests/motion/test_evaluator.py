import numpy as np
import torch

from interanimate.motion.evaluator import (EvaluatorConfig, MotionEvaluator, acting_side, diversity,
                                           frechet_distance, interval, multimodality, reaction_error, topk_accuracy)
from interanimate.motion.representation import encode_keypoints
from interanimate.taxonomy import get_class


def test_evaluator_shapes():
    ev = MotionEvaluator(EvaluatorConfig(width=16, feature_dim=8, layers=2))
    hand, face = torch.randn(3, 16, 42, 5), torch.randn(3, 16, 68, 6)
    assert ev.features(hand, face).shape == (3, 8) and ev(hand, face).shape == (3, 18)


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert abs(frechet_distance(a, a)) < 1e-6
    b = a + np.array([3.0, 0, 0, 0])
    assert abs(frechet_distance(a, b) - 9.0) < 1e-4
    assert frechet_distance(a, rng.normal(size=(500, 4)) * 2) > 1.0


def test_accuracy_diversity_interval():
    logits = np.array([[3.0, 1.0, 0.0], [0.0, 1.0, 3.0], [1.0, 3.0, 0.0]])
    labels = np.array([0, 1, 1])
    assert topk_accuracy(logits, labels, 1) == 2 / 3 and topk_accuracy(logits, labels, 2) == 1.0
    rng = np.random.default_rng(0)
    same = np.ones((10, 3))
    assert diversity(same, 50, rng) == 0.0
    feats = np.r_[np.zeros((5, 2)), np.ones((5, 2)) * 10]
    assert multimodality(feats, np.r_[np.zeros(5), np.ones(5)], 20, rng) == 0.0
    mean, half = interval([1.0, 2.0, 3.0])
    assert mean == 2.0 and half > 0


def test_acting_side_from_keypoints(motion_of):
    for code in ("LH-NP", "RH-NP", "LC-TF", "RL-FS"):
        hand, face, _ = encode_keypoints(*motion_of(code))
        assert acting_side(hand, face) == get_class(code).hand


def test_reaction_error_is_smaller_for_the_true_class(motion_of):
    hand, face, _ = encode_keypoints(*motion_of("LH-EB", frames=16))
    right = reaction_error(face, hand, get_class("LH-EB"))
    wrong = reaction_error(face, hand, get_class("LH-CH"))
    assert right["centroid_to_region"] < wrong["centroid_to_region"]
    assert right["deformation"] > 0


def test_deformation_ignores_head_motion_and_keeps_a_local_dent(motion_of):
    from interanimate.motion.evaluator import deformation

    _, face, _ = encode_keypoints(*motion_of("LH-NP", frames=16))
    rng = np.random.default_rng(0)
    moved = face.copy()
    for t in range(len(face)):  # a head rotation and shift per frame: head motion, not deformation
        ang, shift = rng.normal(0, 0.1), rng.normal(0, 0.3, 2)
        rot = np.array([[np.cos(ang), -np.sin(ang)], [np.sin(ang), np.cos(ang)]])
        moved[t, :, :2] = face[t, :, :2] @ rot.T + shift
    assert deformation(face).max() > 0.05  # the hand-made face squeezes at contact
    assert np.abs(deformation(moved) - deformation(face)).max() < 1e-4
    zoomed = face.copy()
    zoomed[3:, :, :2] *= 1.1  # the head comes closer from frame 3 on: still no deformation added
    assert np.abs(deformation(zoomed) - deformation(face) * np.r_[np.ones(3), 1.1 * np.ones(13)][:, None]).max() < 1e-4
    still = np.repeat(face[:1], len(face), 0)
    assert deformation(still).max() < 1e-5
    still[5:, 30, 1] += 0.2  # one point dented from frame 5 on
    d = deformation(still)
    assert d[5:, 30].min() > 0.15 and np.delete(d, 30, axis=1).max() < 0.02


def test_region_hit_finds_the_contact_region_from_real_signatures(motion_of):
    from interanimate.motion.evaluator import TARGET_REGIONS, region_signatures
    from interanimate.taxonomy import CLASSES

    assert len(TARGET_REGIONS) == 10

    def enc(cls, seed):
        hand, face, _ = encode_keypoints(*motion_of(cls.code, 16, seed))
        return hand, face

    train = [(enc(c, s), c.index) for c in CLASSES for s in range(3)]
    signatures = region_signatures(np.stack([f for (_, f), _ in train]), np.stack([h for (h, _), _ in train]),
                                   np.array([c for _, c in train]))
    # the hand-made motions touch the nose and mid-face at the same point, so those two cannot be told apart
    classes = [c for c in CLASSES if c.region not in ("nose", "face")]
    own = [reaction_error(enc(c, 9)[1], enc(c, 9)[0], c, signatures=signatures)["region_hit"] for c in classes]
    other = [reaction_error(enc(CLASSES[(c.index + 5) % 18], 9)[1], enc(c, 9)[0], c,
                            signatures=signatures)["region_hit"] for c in classes]
    assert np.mean(own) == 1.0 and np.mean(other) == 0.0
    assert "region_hit" not in reaction_error(enc(classes[0], 9)[1], enc(classes[0], 9)[0], classes[0])
    # a region without real clips: its own clips cannot be scored, the others still can
    no_chin = [(x, c) for x, c in train if CLASSES[c].region != "chin"]
    partial = region_signatures(np.stack([f for (_, f), _ in no_chin]), np.stack([h for (h, _), _ in no_chin]),
                                np.array([c for _, c in no_chin]))
    chin, brow = get_class("LH-CH"), get_class("LH-EB")
    assert np.isnan(reaction_error(enc(chin, 9)[1], enc(chin, 9)[0], chin, signatures=partial)["region_hit"])
    assert reaction_error(enc(brow, 9)[1], enc(brow, 9)[0], brow, signatures=partial)["region_hit"] == 1.0
