"""Region metrics inside masks, temporal consistency, identity similarity."""

import numpy as np
import pytest
from skimage import data

from interanimate.metrics import frame, region, temporal


def test_region_with_full_mask_equals_whole_frame_standard(astronaut_small, perturb):
    pred = perturb(astronaut_small, 10)
    full = np.ones(astronaut_small.shape[:2], bool)
    scores = region.region_frame_metrics(pred, astronaut_small, full, "standard")
    assert scores["psnr"] == pytest.approx(frame.psnr(pred, astronaut_small, "standard"), rel=1e-9)
    assert scores["l1"] == pytest.approx(frame.l1(pred, astronaut_small, "standard"), rel=1e-9)
    assert scores["ssim"] == pytest.approx(frame.ssim(pred, astronaut_small, "standard"), rel=1e-9)
    disco = region.region_frame_metrics(pred, astronaut_small, full, "disco")
    assert disco["ssim"] == pytest.approx(frame.ssim(pred, astronaut_small, "disco"), rel=1e-9)


def test_region_only_sees_the_mask(astronaut_small):
    pred = astronaut_small.copy()
    pred[:, 32:] = 0  # damage the right half only
    left = np.zeros(astronaut_small.shape[:2], bool)
    left[:, :24] = True
    scores = region.region_frame_metrics(pred, astronaut_small, left, "disco")
    assert scores["psnr"] == frame.PSNR_IDENTICAL and scores["l1"] == 0
    assert region.region_frame_metrics(pred, astronaut_small, np.zeros_like(left), "disco") is None


def test_mask_box_and_resize():
    mask = np.zeros((64, 64), bool)
    mask[30:34, 60:64] = True
    top, bottom, left, right = region.mask_box(mask)
    assert bottom - top == 32 and right - left == 32 and right == 64
    assert region.resize_masks(mask[None].astype(np.uint8), 128, 128).shape == (1, 128, 128)


def test_temporal_zero_for_identical_and_positive_for_flicker(astronaut_video, perturb):
    video = astronaut_video(frames=6)
    assert temporal.flicker(video, video) == 0
    same = temporal.warp_errors(video, video)
    assert same["warp_error"] == same["warp_error_gt"] < temporal.OCCLUSION_THRESHOLD
    flickering = video.copy()
    flickering[::2] = perturb(video[::2], 25)
    assert temporal.flicker(flickering, video) > 0.01
    assert (temporal.warp_errors(flickering, video)["warp_error"]
            > temporal.warp_errors(perturb(video, 2), video)["warp_error"] > same["warp_error"])


@pytest.mark.slow
def test_identity_same_face_scores_higher_than_other_image(perturb):
    from interanimate.metrics.identity import DlibFaceEmbedder, identity_scores

    astronaut = data.astronaut()
    embedder = DlibFaceEmbedder()
    same = identity_scores(embedder, astronaut, np.stack([astronaut, perturb(astronaut, 8)]))
    assert same["reference_found"] and same["detected"] == 2
    assert same["similarities"][0] == pytest.approx(1.0, abs=1e-6) and same["similarities"][1] > 0.9
    box = (100, 260, 140, 300)  # no detectable face in coffee: the given box is embedded instead
    other = identity_scores(embedder, astronaut, data.coffee()[None], boxes=[box])
    assert other["detected"] == 0 and other["similarities"][0] < same["similarities"][1]
    assert identity_scores(embedder, astronaut, data.coffee()[None])["skipped"] == 1


def _tiny_arcface_onnx(path):
    """An ONNX model with ArcFace's interface: (1, 3, 112, 112) float → (1, 512) embedding."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.random.default_rng(0).normal(size=(3, 512)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("GlobalAveragePool", ["data"], ["pooled"]),
         helper.make_node("Flatten", ["pooled"], ["flat"]), helper.make_node("MatMul", ["flat", "w"], ["fc1"])],
        "tiny_arcface", [helper.make_tensor_value_info("data", TensorProto.FLOAT, [1, 3, 112, 112])],
        [helper.make_tensor_value_info("fc1", TensorProto.FLOAT, [1, 512])], [weight])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.mark.slow
def test_arcface_onnx_embedder(tmp_path, perturb):
    from interanimate.errors import UserError
    from interanimate.metrics.identity import ArcFaceEmbedder, identity_scores

    _tiny_arcface_onnx(tmp_path / "arcface.onnx")
    embedder = ArcFaceEmbedder(tmp_path / "arcface.onnx")
    astronaut = data.astronaut()
    result = identity_scores(embedder, astronaut, astronaut[None])
    assert result["detected"] == 1 and result["similarities"][0] == pytest.approx(1.0, abs=1e-6)
    (tmp_path / "bad.onnx").write_bytes(b"not onnx")
    with pytest.raises(UserError, match="bad.onnx: cannot load"):
        ArcFaceEmbedder(tmp_path / "bad.onnx")
