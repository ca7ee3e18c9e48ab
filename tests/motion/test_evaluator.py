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
