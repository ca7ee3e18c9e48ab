"""Bad input, over the whole CLI: each case is one line on stderr, exit code 2, and nothing written.

The cases run ``interanimate.cli.main`` in this process: every check happens before a model loads, so a case takes
milliseconds (a case that loaded a model first would show up as a slow test). Grouped as the reliability issue asks:
numbers, sizes, paths, text, model folders.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from interanimate.cli import main
from interanimate.pipelines import bundled_model_dir

BUNDLED_MOTION = Path(__file__).resolve().parents[1] / "src" / "interanimate" / "assets" / "motion"
TINY_CONFIG = Path(__file__).resolve().parents[1] / "configs" / "train_tiny.yaml"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, huge_png) -> dict[str, Path]:
    """Input files every case may point at (made once; the cases write into their own folders)."""
    root = tmp_path_factory.mktemp("inputs")
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(root / "ref.png")
    (root / "not_an_image.png").write_text("hello")
    (root / "a_file").write_text("x")
    (root / "folder").mkdir()
    kpts, scores = np.zeros((16, 134, 2), np.float32), np.ones((16, 134), np.float32)
    nan_kpts = kpts.copy()
    nan_kpts[3, 7, 0] = np.nan
    np.savez(root / "nan_poses.npz", keypoints=nan_kpts, scores=scores)
    np.savez(root / "wrong_shape.npz", keypoints=kpts[:, :10], scores=scores)
    (root / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip")
    np.save(root / "nan_identity.npy", np.full(128, np.nan, np.float32))
    (root / "videos").mkdir()
    huge_png(root / "bomb.png", 30000, 30000)  # PIL's own decompression-bomb limit
    huge_png(root / "big.png", 9000, 9000)  # under PIL's limit, over ours
    return {
        "ref": root / "ref.png", "bad_image": root / "not_an_image.png", "file": root / "a_file",
        "folder": root / "folder", "nan_poses": root / "nan_poses.npz", "wrong_shape": root / "wrong_shape.npz",
        "broken_npz": root / "broken.npz", "nan_identity": root / "nan_identity.npy", "videos": root / "videos",
        "tiny_config": TINY_CONFIG, "bomb": root / "bomb.png", "big": root / "big.png",
    }



def _broken_model(root: Path, damage: str) -> Path:
    """A copy of the bundled animation model with one kind of damage."""
    model = root / f"model_{damage}"
    shutil.copytree(bundled_model_dir(), model)
    if damage == "index_json":
        (model / "model_index.json").write_text("{not json")
    elif damage == "unet_json":
        (model / "unet" / "config.json").write_text('{"_class_name": ')
    elif damage == "truncated":
        weights = model / "unet" / "diffusion_pytorch_model.safetensors"
        weights.write_bytes(weights.read_bytes()[:-1000])
    elif damage == "garbage_weights":
        (model / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(b"\x01" * 64)
    elif damage == "no_vae":
        shutil.rmtree(model / "vae")
    elif damage == "bin_only":
        weights = model / "image_encoder" / "model.safetensors"
        weights.rename(weights.with_name("pytorch_model.bin"))
    elif damage == "no_scheduler_config":
        (model / "scheduler" / "scheduler_config.json").unlink()
    elif damage == "no_index":
        (model / "model_index.json").unlink()
    return model


def _broken_motion(root: Path, damage: str) -> Path:
    model = root / f"motion_{damage}"
    shutil.copytree(BUNDLED_MOTION, model)
    if damage == "json":
        (model / "config.json").write_text("[1, 2")
    elif damage == "truncated":
        weights = model / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: len(weights.read_bytes()) // 2])
    return model


def animate(out: str = "{out}/o.mp4", *extra: str) -> list[str]:
    return ["animate", "--reference", "{ref}", "--synth-class", "LH-NP", "--out", out, *extra]


# (id, argv with {placeholders}, a fragment the one error line must hold)
CASES = [
    # ---- numbers
    ("guidance-nan", animate("{out}/o.mp4", "--guidance", "nan"), "expected a finite number"),
    ("guidance-inf", animate("{out}/o.mp4", "--guidance", "inf"), "expected a finite number"),
    ("guidance-negative", animate("{out}/o.mp4", "--guidance", "-1"), "out of range"),
    ("steps-zero", animate("{out}/o.mp4", "--steps", "0"), "out of range ([1, 1000])"),
    ("steps-text", animate("{out}/o.mp4", "--steps", "many"), "expected an integer"),
    ("steps-float", animate("{out}/o.mp4", "--steps", "2.5"), "expected an integer"),
    ("frames-zero", animate("{out}/o.mp4", "--frames", "0"), "out of range"),
    ("seed-negative", animate("{out}/o.mp4", "--seed", "-1"), "out of range"),
    ("seed-huge", animate("{out}/o.mp4", "--seed", str(2 ** 64)), "out of range"),
    ("fps-zero", animate("{out}/o.mp4", "--fps", "0"), "out of range"),
    ("hand-prior-zero", animate("{out}/o.mp4", "--hand-prior-strength", "0"), "out of range"),
    ("hand-prior-above-one", animate("{out}/o.mp4", "--hand-prior-strength", "1.5"), "out of range"),
    ("demo-hand-prior-nan", ["demo", "--hand-prior-strength", "nan", "--out", "{out}/demo"], "expected a finite number"),
    ("fps-nan", animate("{out}/o.mp4", "--fps", "nan"), "expected a finite number"),
    ("motion-top-k-above-one", ["motion", "generate", "--class", "LH-NP", "--top-k", "1.5", "--out", "{out}/m.npz"],
     "out of range"),
    ("motion-temperature-nan", ["motion", "generate", "--class", "LH-NP", "--temperature", "nan", "--out",
                                "{out}/m.npz"], "expected a finite number"),
    ("motion-num-zero", ["motion", "generate", "--class", "LH-NP", "--num", "0", "--out", "{out}/m.npz"],
     "out of range"),
    ("motion-frames-huge", ["motion", "generate", "--class", "LH-NP", "--frames", "2048", "--out", "{out}/m.npz"],
     "out of range"),
    ("demo-steps-negative", ["demo", "--steps", "-3", "--out", "{out}/demo"], "out of range"),
    ("prepare-workers-zero", ["prepare", "--videos", "{videos}", "--out", "{out}/p", "--workers", "0"],
     "out of range"),
    ("prepare-threshold-nan", ["prepare", "--videos", "{videos}", "--out", "{out}/p", "--mask-threshold", "nan"],
     "--mask-threshold out of range"),
    ("evaluate-batch-zero", ["evaluate", "--pred", "{folder}", "--gt", "{folder}", "--out", "{out}/r",
                             "--batch-size", "0"], "out of range"),
    ("synth-identities-zero", ["synth", "--out", "{out}/s", "--identities", "0"], "out of range"),
    ("synth-jitter-nan", ["synth", "--out", "{out}/s", "--camera-jitter", "nan"], "camera jitter must be within"),
    # ---- sizes
    ("size-huge", animate("{out}/o.mp4", "--size", "100000x100000"), "between 16 and 8192"),
    ("size-no-memory", animate("{out}/o.mp4", "--size", "8192x8192", "--frames", "4096"),
     "GiB of memory"),
    ("size-model-multiple", animate("{out}/o.mp4", "--size", "72x72"), "this model needs multiples of 32"),
    ("size-tiny", animate("{out}/o.mp4", "--size", "8x8"), "between 16 and 8192"),
    ("size-garbage", animate("{out}/o.mp4", "--size", "big"), "size must look like HxW"),
    ("motion-size-zero", ["motion", "generate", "--class", "LH-NP", "--size", "0x0", "--out", "{out}/m.npz"],
     "between 16 and 8192"),
    ("synth-size-no-memory", ["synth", "--out", "{out}/s", "--size", "8192x8192", "--frames", "2000"],
     "GiB of memory"),
    # ---- paths
    ("synth-out-file", ["synth", "--out", "{file}"], "is a file, not a folder"),
    ("synth-preview-kind", ["synth", "--preview", "{out}/p.jpg"], "must name a .png file"),
    ("out-is-folder", animate("{folder}"), "expected a .mp4 file"),
    ("out-mp4-folder", animate("{out}/already.mp4"), "is a folder"),
    ("out-under-file", animate("{file}/o.mp4"), "is a file, not a folder"),
    ("out-wrong-kind", animate("{out}/o.avi"), "expected a .mp4 file"),
    ("preview-png-is-folder", animate("{out}/clash.mp4"), "clash.png: is a folder"),
    ("reference-missing", ["animate", "--reference", "{out}/none.png", "--synth-class", "LH-NP", "--out",
                           "{out}/o.mp4"], "no such file"),
    ("reference-folder", ["animate", "--reference", "{folder}", "--synth-class", "LH-NP", "--out", "{out}/o.mp4"],
     "is a folder, expected a file"),
    ("reference-bomb", ["animate", "--reference", "{bomb}", "--synth-class", "LH-NP", "--out", "{out}/o.mp4"],
     "megapixel budget"),
    ("reference-too-big", ["animate", "--reference", "{big}", "--synth-class", "LH-NP", "--out", "{out}/o.mp4"],
     "9000×9000 pixels is over the 64 megapixel budget"),
    ("annotate-image-bomb", ["annotate-image", "{bomb}", "--preview", "{out}/p.png"], "megapixel budget"),
    ("reference-not-image", ["animate", "--reference", "{bad_image}", "--synth-class", "LH-NP", "--out",
                             "{out}/o.mp4"], "cannot read the image"),
    ("poses-missing", ["animate", "--reference", "{ref}", "--driving-poses", "{out}/none.npz", "--out",
                       "{out}/o.mp4"], "no such file"),
    ("poses-nan", ["animate", "--reference", "{ref}", "--driving-poses", "{nan_poses}", "--out", "{out}/o.mp4"],
     "keypoints must be finite numbers (first at frame 3, point 7)"),
    ("poses-wrong-shape", ["animate", "--reference", "{ref}", "--driving-poses", "{wrong_shape}", "--out",
                           "{out}/o.mp4"], "expected arrays keypoints (F, 134, 2)"),
    ("poses-broken", ["animate", "--reference", "{ref}", "--driving-poses", "{broken_npz}", "--out",
                      "{out}/o.mp4"], "unreadable"),
    ("identity-nan", animate("{out}/o.mp4", "--identity", "{nan_identity}"), "vector of finite numbers"),
    ("video-missing", ["animate", "--reference", "{ref}", "--driving-video", "{out}/none.mp4", "--out",
                       "{out}/o.mp4"], "no such file"),
    ("motion-out-folder", ["motion", "generate", "--class", "LH-NP", "--out", "{folder}"], "expected a .npz file"),
    ("motion-preview-kind", ["motion", "generate", "--class", "LH-NP", "--out", "{out}/m.npz", "--preview",
                             "{out}/p.mp4"], "expected a .gif or .png file"),
    ("motion-react-missing", ["motion", "react", "--hand", "{out}/none.npz", "--out", "{out}/m.npz"],
     "file not found"),
    ("prepare-videos-missing", ["prepare", "--videos", "{out}/none", "--out", "{out}/p"], "no such folder"),
    ("prepare-labels-missing", ["prepare", "--videos", "{videos}", "--labels", "{out}/l.csv", "--out", "{out}/p"],
     "no such file"),
    ("prepare-out-file", ["prepare", "--videos", "{videos}", "--out", "{file}"], "is a file, not a folder"),
    ("evaluate-pred-missing", ["evaluate", "--pred", "{out}/none", "--gt", "{folder}", "--out", "{out}/r"],
     "no such folder or file"),
    ("evaluate-device", ["evaluate", "--pred", "{folder}", "--gt", "{folder}", "--out", "{out}/r", "--device",
                         "tpu"], "use auto, cpu, cuda or cuda:N"),
    ("annotate-preview-kind", ["annotate-image", "{ref}", "--preview", "{out}/p.jpg"], "must be a .png"),
    ("demo-out-file", ["demo", "--out", "{file}"], "is a file, not a folder"),
    ("watermark-missing", ["verify-watermark", "{out}/none.mp4"], "none.mp4"),
    ("train-config-missing", ["train", "--config", "{out}/none.yaml"], "no such file"),
    ("train-config-kind", ["train", "--config", "{ref}"], "expected a .yaml or .yml file"),
    ("train-resume-missing", ["train", "--config", "{tiny_config}", "--resume", "{out}/none"], "no such folder"),
    ("train-export-file", ["train", "--config", "{tiny_config}", "--export", "{file}"], "is a file, not a folder"),
    ("train-output-under-file", ["train", "--config", "{tiny_config}", "--set", "output_dir={file}/run"],
     "is a file, not a folder"),
    ("train-unknown-key", ["train", "--config", "{tiny_config}", "--set", "optim.lrr=1"], "unknown key(s) optim.lrr"),
    # ---- text
    ("text-empty", ["animate", "--reference", "{ref}", "--text", "", "--out", "{out}/o.mp4"], "empty prompt"),
    ("text-no-interaction", ["animate", "--reference", "{ref}", "--text", "qwerty asdf", "--out", "{out}/o.mp4"],
     "names no interaction"),
    ("text-side-only", ["animate", "--reference", "{ref}", "--text", "the left one", "--out", "{out}/o.mp4"],
     "or give --class CODE"),
    ("motion-text-blank", ["motion", "generate", "--text", "   ", "--out", "{out}/m.npz"], "empty prompt"),
    ("class-unknown", ["animate", "--reference", "{ref}", "--class", "XX-YY", "--out", "{out}/o.mp4"],
     "unknown interaction class 'XX-YY'"),
    ("synth-class-unknown", ["animate", "--reference", "{ref}", "--synth-class", "nose", "--out", "{out}/o.mp4"],
     "unknown interaction class 'nose'"),
    ("demo-classes-empty", ["demo", "--classes", ",,", "--out", "{out}/demo"], "no class code given"),
    ("demo-classes-unknown", ["demo", "--classes", "LH-NP,ZZ", "--out", "{out}/demo"], "unknown class code(s) ZZ"),
    # ---- model folders
    ("model-missing", animate("{out}/o.mp4", "--model", "{out}/no_model"), "no such folder"),
    ("model-no-index", animate("{out}/o.mp4", "--model", "{model:no_index}"), "no model_index.json"),
    ("model-index-json", animate("{out}/o.mp4", "--model", "{model:index_json}"), "model_index.json: not valid JSON"),
    ("model-unet-json", animate("{out}/o.mp4", "--model", "{model:unet_json}"), "unet/config.json: not valid JSON"),
    ("model-truncated", animate("{out}/o.mp4", "--model", "{model:truncated}"),
     "diffusion_pytorch_model.safetensors: truncated or corrupt"),
    ("model-garbage", animate("{out}/o.mp4", "--model", "{model:garbage_weights}"),
     "not a readable safetensors file"),
    ("model-no-vae", animate("{out}/o.mp4", "--model", "{model:no_vae}"), "vae: missing"),
    ("model-bin-only", animate("{out}/o.mp4", "--model", "{model:bin_only}"),
     "only safetensors weights are loaded"),
    ("model-no-scheduler", animate("{out}/o.mp4", "--model", "{model:no_scheduler_config}"),
     "scheduler_config.json: missing"),
    ("demo-model-truncated", ["demo", "--out", "{out}/demo", "--model", "{model:truncated}"],
     "truncated or corrupt"),
    ("motion-model-json", ["motion", "generate", "--class", "LH-NP", "--model", "{motion:json}", "--out",
                           "{out}/m.npz"], "config.json: not valid JSON"),
    ("motion-model-truncated", ["motion", "generate", "--class", "LH-NP", "--model", "{motion:truncated}", "--out",
                                "{out}/m.npz"], "model.safetensors: truncated or corrupt"),
    ("animate-motion-model", ["animate", "--reference", "{ref}", "--class", "LH-NP", "--motion-model",
                              "{motion:truncated}", "--out", "{out}/o.mp4"], "truncated or corrupt"),
]


def _fill(argv: list[str], values: dict[str, Path], root: Path) -> list[str]:
    out = []
    for arg in argv:
        while "{model:" in arg or "{motion:" in arg:
            kind = "model" if "{model:" in arg else "motion"
            start = arg.index("{" + kind + ":")
            end = arg.index("}", start)
            damage = arg[start + len(kind) + 2:end]
            maker = _broken_model if kind == "model" else _broken_motion
            arg = arg[:start] + str(maker(root, damage)) + arg[end + 1:]
        out.append(arg.format(**{k: str(v) for k, v in values.items()}))
    return out


def _listing(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def run_case(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse
        code = exit_.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, fragment", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_nothing_written(argv, fragment, inputs, tmp_path, capsys):
    out = tmp_path / "out"
    (out / "already.mp4").mkdir(parents=True)  # an output name that is taken by a folder
    (out / "clash.png").mkdir()  # animate's preview PNG name taken by a folder
    models = tmp_path / "models"
    models.mkdir()
    argv = _fill(argv, {**inputs, "out": out}, models)
    before = _listing(out)
    code, err = run_case(argv, capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2, err
    assert len(lines) == 1, err
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in err
    assert _listing(out) == before  # nothing written, not even a folder


def test_there_are_enough_cases():
    assert len(CASES) >= 40


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere; the permission check cannot be seen")
def test_unwritable_out_folder(inputs, tmp_path, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        code, err = run_case(_fill(animate(str(locked / "o.mp4")), inputs, tmp_path), capsys)
    finally:
        locked.chmod(0o700)
    assert code == 2 and "permission denied" in err and not any(locked.iterdir())


def test_one_line_errors_from_the_parser_itself(capsys):
    code, err = run_case(["animate", "--reference"], capsys)  # argparse: an option without its value
    assert code == 2 and len(err.strip().splitlines()) == 1 and "see interanimate animate --help" in err
    code, err = run_case(["no-such-command"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_model_index_names_a_component_missing(tmp_path, capsys):
    model = _broken_model(tmp_path, "none")
    index = json.loads((model / "model_index.json").read_text())
    del index["scheduler"]
    (model / "model_index.json").write_text(json.dumps(index))
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / "r.png")
    code, err = run_case(_fill(animate(str(tmp_path / "o.mp4"), "--model", str(model)),
                               {"ref": tmp_path / "r.png"}, tmp_path), capsys)
    assert code == 2 and "names no scheduler component" in err
