import numpy as np

from interanimate import keypoints as K


def test_slices_partition_134_points():
    parts = [K.BODY, K.FOOT, K.FACE, K.LEFT_HAND, K.RIGHT_HAND]
    covered = np.concatenate([np.arange(134)[p] for p in parts])
    assert K.NUM_KEYPOINTS == 134
    np.testing.assert_array_equal(covered, np.arange(134))
    assert (K.FACE.start, K.FACE.stop) == (24, 92)  # DWPose: faces = candidate[:, 24:92]
    assert (K.LEFT_HAND.start, K.RIGHT_HAND.start) == (92, 113)
    assert len(K.BODY_NAMES) == 18 and K.BODY_NAMES[1] == "neck"


def test_face_parts_cover_68_points():
    covered = sorted(i for part in K.FACE_PARTS.values() for i in range(part.start, part.stop))
    assert covered == list(range(68))


def test_hand_edges_form_a_tree_over_21_joints():
    edges = K.HAND_EDGES
    assert len(edges) == 20
    assert {j for e in edges for j in e} == set(range(21))
    assert K.HAND_TIPS == (4, 8, 12, 16, 20)


def test_mirror_is_an_involution_and_swaps_hands():
    rng = np.random.default_rng(0)
    kpts = rng.uniform(0, 100, (3, 134, 2)).astype(np.float32)
    scores = rng.uniform(0, 1, (3, 134)).astype(np.float32)
    flipped, fscores = K.mirror_keypoints(kpts, scores, width=128)
    np.testing.assert_allclose(flipped[:, K.RIGHT_HAND, 0], 127 - kpts[:, K.LEFT_HAND, 0])
    np.testing.assert_array_equal(fscores[:, K.LEFT_HAND], scores[:, K.RIGHT_HAND])
    back, bscores = K.mirror_keypoints(flipped, fscores, width=128)
    np.testing.assert_allclose(back, kpts, atol=1e-5)
    np.testing.assert_array_equal(bscores, scores)
    perm = K.MIRROR_PERMUTATION
    np.testing.assert_array_equal(perm[perm], np.arange(134))
    face = perm[K.FACE] - K.FACE.start
    assert face[K.FACE_NOSE_TIP] == K.FACE_NOSE_TIP and face[K.FACE_CHIN] == K.FACE_CHIN
    assert face[36] == 45  # outer eye corners swap
