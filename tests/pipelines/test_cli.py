"""The CLI around the pipeline: animate (bundled-model stand-in: a tiny random pipeline; stub pose backends and
identity embedders instead of mediapipe and dlib), verify-watermark, demo."""

import numpy as np
import pytest
from PIL import Image

from interanimate.annotate.backends import register_backend
from interanimate.annotate.identity import register_embedder
from interanimate.cli import main
from interanimate.keypoints.layout import FACE, LEFT_HAND, NUM_KEYPOINTS

SIZE = 48  # frames of the tiny pipeline (multiples of 16: VAE 8 × UNet 2)
UNIT_STUB = "test-pipelines-unit-pose"  # a face and a left hand, the same shape in every frame (see UnitPoseStub)
FACELESS_STUB = "test-pipelines-faceless"


class UnitPoseStub:
    """A fixed pose in units of the frame's shorter side, from the top-left corner: a similarity image of the same
    pose in frames of any size or aspect, so where a retargeted point must land is known exactly."""

    rng = np.random.default_rng(0)
    face = rng.uniform(0.1, 0.45, (68, 2))  # (68, 2)
    hand = rng.uniform((0.4, 0.5), (0.7, 0.9), (21, 2))  # (21, 2)

    def __init__(self, with_face: bool = True):
        self.with_face = with_face

    def __call__(self, frame):
        keypoints = np.zeros((NUM_KEYPOINTS, 2), np.float32)
        scores = np.zeros(NUM_KEYPOINTS, np.float32)
        side = min(frame.shape[:2])
        keypoints[FACE], keypoints[LEFT_HAND] = self.face * side, self.hand * side
        scores[FACE], scores[LEFT_HAND] = float(self.with_face), 1.0
        return keypoints, scores


class FixedPoseStub:
    """Returns the same given pose for every image."""

    def __init__(self, keypoints, scores):
        self.keypoints, self.scores = keypoints, scores

    def __call__(self, frame):
        return self.keypoints.copy(), self.scores.copy()


register_backend(UNIT_STUB, UnitPoseStub)
register_backend(FACELESS_STUB, lambda: UnitPoseStub(with_face=False))
register_embedder("test-pipelines-64d", lambda arcface_model=None: lambda image: np.ones(64, np.float32))
register_embedder("test-pipelines-128d", lambda arcface_model=None: lambda image: np.ones(128, np.float32))
register_embedder("test-pipelines-noface", lambda arcface_model=None: lambda image: None)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory, save_tiny_pipeline):
    return save_tiny_pipeline(tmp_path_factory.mktemp("model"), SIZE)


def test_animate_synth_class_writes_watermarked_video(tiny_model, tmp_path, capsys):
    Image.fromarray(np.full((48, 40, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    code = main(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "LH-NP", "--out", str(out),
                 "--model", str(tiny_model), "--frames", "3", "--steps", "1", "--retarget", "none"])
    assert code == 0 and out.is_file() and out.with_suffix(".png").is_file() and out.with_suffix(".gif").is_file()
    assert main(["verify-watermark", str(out)]) == 0
    assert "PRESENT" in capsys.readouterr().out


def test_animate_rejects_unknown_class(tiny_model, tmp_path):
    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(tmp_path / "ref.png")
    assert main(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "XX", "--out",
                 str(tmp_path / "o.mp4"), "--model", str(tiny_model)]) == 2


@pytest.fixture
def seen_conditions(monkeypatch):
    """What ``animate`` hands to ``conditions_from_keypoints`` (the keypoints the pose frames are drawn from)."""
    import interanimate.pipelines.conditioning as conditioning

    seen, original = {}, conditioning.conditions_from_keypoints

    def spy(keypoints, scores, source_size, size, hand_map=False):
        seen.update(keypoints=np.array(keypoints), scores=np.array(scores), source_size=tuple(source_size))
        return original(keypoints, scores, source_size, size, hand_map)

    monkeypatch.setattr(conditioning, "conditions_from_keypoints", spy)
    return seen


def crop_to_output(points, image_size):
    """Reference-image pixels -> output pixels, written out for a (96, 128) reference and a 48×48 output."""
    assert image_size == (96, 128)
    return np.asarray(points) * 0.5 - (8.0, 0.0)  # scaled to 48×64, then 8 columns cut on each side


def one_error_line(stderr: str) -> str:
    """The CLI's error: exactly one line of stderr (the rest is model-loading progress) and the last one."""
    lines = [line for line in stderr.splitlines() if "error:" in line]
    assert len(lines) == 1 and stderr.rstrip().endswith(lines[0]), stderr
    return lines[0]


def animate_args(reference, out, model, *extra):
    return ["animate", "--reference", str(reference), "--out", str(out), "--model", str(model), "--frames", "3",
            "--steps", "1", "--guidance", "1", *extra]


def test_animate_driving_video_is_retargeted_onto_the_reference_face(tiny_model, tmp_path, seen_conditions):
    from interanimate.utils.video import write_mp4

    write_mp4(tmp_path / "drive.mp4", np.full((3, 32, 64, 3), 90, np.uint8))  # (F, H, W, 3): wide, small
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(tmp_path / "ref.png")  # (H, W): cropped to 48×48
    out = tmp_path / "out.mp4"
    code = main(animate_args(tmp_path / "ref.png", out, tiny_model, "--driving-video", str(tmp_path / "drive.mp4"),
                             "--pose-backend", UNIT_STUB, "--framing", "full"))
    assert code == 0 and out.is_file() and out.with_suffix(".png").is_file()
    keypoints, source_size = seen_conditions["keypoints"], seen_conditions["source_size"]
    assert keypoints.shape == (3, NUM_KEYPOINTS, 2) and source_size == (SIZE, SIZE)
    expected_hand = crop_to_output(UnitPoseStub.hand * 96, (96, 128))  # where the reference's own hand would be
    for t in range(3):
        np.testing.assert_allclose(keypoints[t, LEFT_HAND], expected_hand, atol=1e-3)
        np.testing.assert_allclose(keypoints[t, FACE], crop_to_output(UnitPoseStub.face * 96, (96, 128)), atol=1e-3)
    as_is = UnitPoseStub.hand * 32 * (SIZE / 64, SIZE / 32)  # the video's hand stretched to 48×48, not retargeted
    assert np.abs(as_is - expected_hand).max() > 5


def test_animate_synth_class_is_retargeted_onto_the_reference_face(tiny_model, tmp_path, seen_conditions):
    from interanimate.data.synth.heldout import render_heldout_clip
    from interanimate.pipelines.retarget import apply_similarity

    clip = render_heldout_clip("LH-NP", index=0, frames=3)  # what --synth-class LH-NP --seed 0 --frames 3 drives
    synth_face = clip["keypoints"][0, FACE]  # (68, 2) in the clip's 64×64 pixels
    angle, centre = 0.2, synth_face.mean(axis=0)
    turn = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    to_user = np.concatenate([turn, ((36.0, 30.0) - turn @ centre)[:, None]], axis=1)  # face centre -> (36, 30)
    ref_kpts = np.zeros((NUM_KEYPOINTS, 2), np.float32)
    ref_kpts[FACE] = apply_similarity(synth_face, to_user)  # the user's face: tilted, near the top-left corner
    ref_scores = np.zeros(NUM_KEYPOINTS, np.float32)
    ref_scores[FACE] = 1.0
    register_backend("test-pipelines-ref-face", lambda: FixedPoseStub(ref_kpts, ref_scores))
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    code = main(animate_args(tmp_path / "ref.png", tmp_path / "out.mp4", tiny_model, "--synth-class", "LH-NP",
                             "--pose-backend", "test-pipelines-ref-face", "--framing", "full"))
    assert code == 0
    keypoints, scores = seen_conditions["keypoints"], seen_conditions["scores"]  # (3, 134, 2), (3, 134)
    expected = crop_to_output(apply_similarity(clip["keypoints"], to_user), (96, 128))  # (3, 134, 2)
    np.testing.assert_allclose(keypoints[:, LEFT_HAND], expected[:, LEFT_HAND], atol=1e-3)
    np.testing.assert_allclose(keypoints[0, FACE], crop_to_output(ref_kpts[FACE], (96, 128)), atol=1e-3)
    shown = np.flatnonzero(scores[:, LEFT_HAND].max(axis=1) > 0)[0]  # the first frame the hand is in the picture
    face = keypoints[shown, FACE]  # (68, 2)
    radius = np.linalg.norm(face - face.mean(axis=0), axis=1).mean()
    assert np.linalg.norm(keypoints[shown, LEFT_HAND].mean(axis=0) - face.mean(axis=0)) < 2 * radius
    assert np.linalg.norm(face.mean(axis=0) - centre * SIZE / 64) > 10  # far from where the synthetic face was


def test_animate_reference_without_a_face_suggests_retarget_none(tiny_model, tmp_path, capsys):
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    code = main(animate_args(tmp_path / "ref.png", out, tiny_model, "--synth-class", "LH-NP",
                             "--pose-backend", FACELESS_STUB))
    err = one_error_line(capsys.readouterr().err)
    assert code == 2 and "finds no face" in err and "--retarget none" in err
    assert not out.exists()


@pytest.mark.parametrize("extra, message", [
    (["--identity-from", "test-pipelines-64d"], "has 64 values; this model takes 128"),
    (["--identity-from", "test-pipelines-noface"], "no face found"),
    (["--identity-from", "nope"], "unknown identity embedder"),
    (["--arcface-model", "x.onnx"], "only used with --identity-from arcface"),
    (["--driving-video", "missing.mp4"], "missing.mp4: no such file"),
])
def test_animate_bad_inputs_are_one_line_errors(tiny_model, tmp_path, capsys, extra, message):
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    source = [] if "--driving-video" in extra else ["--synth-class", "LH-NP"]
    code = main(animate_args(tmp_path / "ref.png", tmp_path / "out.mp4", tiny_model, "--retarget", "none",
                             *source, *extra))
    assert code == 2 and message in one_error_line(capsys.readouterr().err)


def test_animate_default_identity_is_dlib_and_falls_back_to_zeros_without_a_face(tiny_model, tmp_path, capsys):
    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(tmp_path / "ref.png")  # no face for dlib to find
    out = tmp_path / "out.mp4"
    assert main(animate_args(tmp_path / "ref.png", out, tiny_model, "--synth-class", "LH-NP", "--retarget", "none")) == 0
    assert out.is_file()
    assert "no face found" in capsys.readouterr().err


def test_animate_identity_from_an_embedder(tiny_model, tmp_path):
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    assert main(animate_args(tmp_path / "ref.png", out, tiny_model, "--synth-class", "LH-NP", "--retarget", "none",
                             "--identity-from", "test-pipelines-128d")) == 0
    assert out.is_file()


def test_demo_writes_videos_grid_and_metrics(tiny_model, tmp_path, capsys):
    code = main(["demo", "--out", str(tmp_path), "--model", str(tiny_model), "--classes", "LH-NP,RL-FS",
                 "--steps", "1", "--skip-preview"])
    assert code == 0
    assert (tmp_path / "videos" / "LH-NP.mp4").is_file() and (tmp_path / "preview.png").is_file()
    import json
    report = json.loads((tmp_path / "metrics.json").read_text())
    assert set(report["classes"]) == {"LH-NP", "RL-FS"}
    assert set(report["mean_over_classes"]) == {"model", "model_zero_identity", "repeat_reference"}
    assert report["identity_source"] == "dlib" and set(report["classes_beating_repeat_reference"]) == {
        "model", "model_zero_identity"}
    table = (tmp_path / "report.md").read_text()
    assert "| LH-NP |" in table and "| RL-FS |" in table and "repeat the reference frame" in table
    captured = capsys.readouterr()
    assert "metrics:" in captured.out and "no identity" in captured.out
    assert "demo: denoising" in captured.err  # progress while it generates


def test_demo_scores_with_the_evaluators_region_protocol():
    from interanimate.metrics.region import clip_region_scores

    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    b = a.copy()
    b[:8] = 255 - b[:8]  # differ only in the top half
    bottom = np.zeros((16, 16), bool)
    bottom[8:] = True
    video, target = np.stack([a, a, a]), np.stack([a, b, b])
    scores = clip_region_scores(video, target, np.stack([bottom] * 3))
    assert scores["psnr"] == 100.0 and scores["frames"] == 2  # frame 0 (the reference) is not scored
    top = clip_region_scores(video, target, np.stack([~bottom] * 3))
    assert top["psnr"] < 20 and top["ssim"] < 0.5


def test_animate_class_chains_the_motion_generator(tiny_model, tmp_path, seen_conditions, capsys):
    """--class: the bundled motion model generates the motion; the pose frames are drawn from exactly it."""
    from interanimate.motion.export import load_poses

    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    code = main(animate_args(tmp_path / "ref.png", out, tiny_model, "--class", "RH-NP", "--retarget", "none"))
    assert code == 0 and out.is_file()
    poses = load_poses(out.with_suffix(".poses.npz"))
    assert poses["class_code"] == "RH-NP" and poses["keypoints"].shape == (3, NUM_KEYPOINTS, 2)
    assert poses["size"] == (512, 512) and "motion:" in capsys.readouterr().out
    assert seen_conditions["source_size"] == (512, 512)
    np.testing.assert_array_equal(seen_conditions["keypoints"], poses["keypoints"])
    np.testing.assert_array_equal(seen_conditions["scores"], poses["scores"])
    assert main(animate_args(tmp_path / "ref.png", tmp_path / "bad.mp4", tiny_model, "--class", "XX-YY")) == 2
    assert not (tmp_path / "bad.mp4").exists() and not (tmp_path / "bad.poses.npz").exists()


def test_animate_text_resolves_the_class(tiny_model, tmp_path, capsys):
    from interanimate.motion.export import load_poses

    Image.fromarray(np.full((48, 48, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    code = main(animate_args(tmp_path / "ref.png", out, tiny_model, "--text", "the right hand pinches the nose",
                             "--retarget", "none"))
    assert code == 0
    poses = load_poses(out.with_suffix(".poses.npz"))
    assert poses["class_code"] == "RH-NP" and poses["text"] == "the right hand pinches the nose"


def test_animate_takes_the_frame_rate_of_the_driving_video(tiny_model, tmp_path):
    from interanimate.utils.video import read_video, write_mp4

    write_mp4(tmp_path / "drive.mp4", np.full((3, 32, 64, 3), 90, np.uint8), fps=12.0)
    Image.fromarray(np.full((96, 128, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    drive = ["--driving-video", str(tmp_path / "drive.mp4"), "--pose-backend", UNIT_STUB]
    assert main(animate_args(tmp_path / "ref.png", tmp_path / "a.mp4", tiny_model, *drive)) == 0
    assert read_video(tmp_path / "a.mp4")[1] == pytest.approx(12.0)
    assert main(animate_args(tmp_path / "ref.png", tmp_path / "b.mp4", tiny_model, *drive, "--fps", "5")) == 0
    assert read_video(tmp_path / "b.mp4")[1] == pytest.approx(5.0)


def test_animate_driving_poses_use_the_files_image_size(tiny_model, tmp_path, seen_conditions):
    """A pose file from ``motion generate`` stores height and width; their pixels refer to that size."""
    from interanimate.motion.export import save_poses

    from interanimate.data.synth.heldout import render_heldout_clip

    clip = render_heldout_clip("LH-NP", index=0, frames=3)
    save_poses(tmp_path / "p.npz", clip["keypoints"] * 1.5, clip["scores"], 96, 96, fps=10.0)  # 64 px -> 96 px
    Image.fromarray(np.full((48, 40, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out.mp4"
    assert main(animate_args(tmp_path / "ref.png", out, tiny_model, "--driving-poses", str(tmp_path / "p.npz"),
                             "--retarget", "none")) == 0
    assert seen_conditions["source_size"] == (96, 96)
