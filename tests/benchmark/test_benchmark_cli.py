"""`interanimate benchmark challenge|pad` end to end on tiny fabricated sets, and its refusals (exit 2, nothing written)."""

import json
import shutil

import numpy as np
import pytest

from interanimate.cli import main
from interanimate.utils.video import write_mp4

CLASSES = ("LH-NP", "RC-SF")  # LH: left hand, nose; RC: right cheek
FAST = ["--epochs", "2", "--frames", "4", "--frame-size", "16", "--width", "4", "--bootstrap", "20", "--no-progress",
        "--device", "cpu"]


def _video(class_code: str, person: int, rng) -> np.ndarray:
    """A 6-frame 16×16 clip: a grey face tone per person and a bright square moving left (LH-NP) or right (RC-SF)."""
    frames = np.full((6, 16, 16, 3), 60 + 20 * (person % 5), np.uint8)
    for t in range(6):
        x = 2 + t if class_code == "LH-NP" else 12 - t
        frames[t, 6:10, x:x + 3] = 230
    return np.clip(frames + rng.integers(0, 8, frames.shape), 0, 255).astype(np.uint8)


def make_engine_set(root, persons, held_out, seed=0, model="animate-small", classes=CLASSES):
    """A dataset-engine layout: rows with video_path, synthhf identities of a recipe with ``seed``."""
    rng = np.random.default_rng(len(persons))
    rows = []
    for p in persons:
        for code in classes:
            clip_id = f"{code}-{p:03d}"
            write_mp4(root / "clips" / clip_id / "video.mp4", _video(code, p, rng))
            rows.append({"clip_id": clip_id, "class_code": code, "split": "test" if p in held_out else "train",
                         "identity": f"synthhf-{p:05d}", "identity_kind": "synthhf", "synthetic": True,
                         "video_path": f"clips/{clip_id}/video.mp4", "model_name": model,
                         "model_sha256": "ab" * 32, "steps": 12})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "recipe.json").write_text(json.dumps({"recipe": {"seed": seed}}))
    return root


def make_synth_set(root, persons, held_out, seed=7, classes=CLASSES):
    """A SynthHF layout (ClipRecord rows), persons numbered as SynthHF names them."""
    rng = np.random.default_rng(100 + len(persons))
    rows = []
    for p in persons:
        for code in classes:
            clip_id = f"synth{p:05d}_{code}_0"
            write_mp4(root / "clips" / clip_id / "video.mp4", _video(code, p, rng))
            rows.append({"clip_id": clip_id, "split": "test" if p in held_out else "train", "class_code": code,
                         "identity": f"synth{p:05d}", "num_frames": 6, "fps": 8.0, "height": 16, "width": 16,
                         "video": f"clips/{clip_id}/video.mp4", "annotations": f"clips/{clip_id}/annotations.npz",
                         "source": "synthhf", "extra": {"seed": seed}})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture
def sets(tmp_path):
    gen = make_engine_set(tmp_path / "gen", range(6), held_out={5})
    real = make_synth_set(tmp_path / "real", range(6), held_out={4, 5})
    return gen, real


def test_challenge_end_to_end_and_deterministic(sets, tmp_path, capsys):
    gen, real = sets
    for out in ("a", "b"):
        assert main(["benchmark", "challenge", "--generated", str(gen), "--real", str(real), "--out",
                     str(tmp_path / out), *FAST]) == 0
    report = json.loads((tmp_path / "a" / "report.json").read_text())
    arms = report["result"]["arms"]
    assert set(arms) == {"generated", "real", "real+generated"}
    for arm in arms.values():
        assert 0 <= arm["top1"] <= 1 and arm["test_clips"] == 4 and arm["test_identities"] == 2
        assert np.asarray(arm["confusion"]).sum() == 4
        assert set(arm["per_factor"]) == {"hand", "region", "category"}
    # both arms train on as many clips: the generated set's 10 (5 persons × 2) drawn down to the real set's 8
    assert arms["generated"]["train_clips"] == arms["real"]["train_clips"] == 8
    assert arms["real+generated"]["train_clips"] == 16
    assert (tmp_path / "a" / "confusion.png").stat().st_size > 0 and "CAS" in (tmp_path / "a" / "report.md").read_text()
    other = json.loads((tmp_path / "b" / "report.json").read_text())
    assert other["result"] == report["result"]  # same seed, same figures


def test_pad_end_to_end(sets, tmp_path):
    gen, real = sets
    second = make_engine_set(tmp_path / "gen2", range(10, 14), held_out={13}, model="other-model")
    out = tmp_path / "pad"
    assert main(["benchmark", "pad", "--bona-fide", str(real), "--attack", str(gen), "--attack", str(second),
                 "--out", str(out), *FAST]) == 0
    report = json.loads((out / "report.json").read_text())
    result = report["result"]
    assert len(result["species"]) == 2 and all("@abababababab, 12 steps" in s for s in result["species"])
    f = result["figures"]
    assert set(f["apcer"]) == set(result["species"]) and f["apcer_worst"] == max(f["apcer"].values())
    assert set(f["bpcer_at_apcer"]) == {"0.01", "0.05", "0.1"}
    counts = result["counts"]["test"]
    assert counts["bona_fide_clips"] == 4 and counts["attack_clips"] == 4  # persons 4, 5 / 5 and 13
    assert counts["bona_fide_subjects"] == 2 and counts["attack_subjects"] == 2
    assert (out / "det.png").stat().st_size > 0 and "APCER" in (out / "report.md").read_text()


def _refused(capsys, argv, out, words):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    assert not out.exists()


def test_refusals(sets, tmp_path, capsys):
    gen, real = sets
    out = tmp_path / "out"
    run = lambda g, r: ["benchmark", "challenge", "--generated", str(g), "--real", str(r), "--out", str(out), *FAST]  # noqa: E731
    _refused(capsys, run(tmp_path, real), out, ["no manifest.jsonl"])  # a folder that is no set
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "manifest.jsonl").write_text("")
    _refused(capsys, run(empty, real), out, ["empty"])
    one = make_engine_set(tmp_path / "one", range(3), held_out={2}, classes=("LH-NP",))
    _refused(capsys, run(one, real), out, ["only one class"])
    other = make_engine_set(tmp_path / "other", range(3), held_out={2}, classes=("LH-NP", "RH-NP"))
    _refused(capsys, run(other, real), out, ["different class lists", "RH-NP", "RC-SF"])
    # the generated set's synthhf-00002 of seed 7 is SynthHF person 100002 of seed 7: the real set's test person
    seen = make_engine_set(tmp_path / "seen", range(3), held_out=set(), seed=7)
    overlap = make_synth_set(tmp_path / "overlap", [100002, 100010, 100011], held_out={100002})
    _refused(capsys, run(seen, overlap), out, ["identit", "synthhf:7:100002"])
    seen_pad = make_engine_set(tmp_path / "seen_pad", range(3), held_out={1}, seed=7)  # trains on person 100002
    _refused(capsys, ["benchmark", "pad", "--bona-fide", str(overlap), "--attack", str(seen_pad), "--out", str(out),
                      *FAST], out, ["identit", "synthhf:7:100002"])
    _refused(capsys, ["benchmark", "pad", "--bona-fide", str(gen), "--attack", str(gen), "--out", str(out), *FAST],
             out, ["synthetic"])


def test_missing_and_undecodable_files(sets, tmp_path, capsys):
    gen, real = sets
    out = tmp_path / "out"
    broken = tmp_path / "broken"
    shutil.copytree(gen, broken)
    video = next((broken / "clips").glob("*/video.mp4"))
    video.write_bytes(b"not a video at all")
    argv = ["benchmark", "challenge", "--generated", str(broken), "--real", str(real), "--out", str(out), *FAST]
    _refused(capsys, argv, out, ["cannot decode", video.parent.name])
    video.unlink()
    _refused(capsys, argv, out, ["missing"])


def test_a_users_own_class_labels(tmp_path):
    """Labels outside the 18 classes (a user's prepared videos): top-1 and per class, no hand/region/category."""
    gen = make_engine_set(tmp_path / "gen", range(4), held_out={3}, classes=("wave", "nod"))
    real = make_synth_set(tmp_path / "real", range(4), held_out={3}, classes=("wave", "nod"))
    out = tmp_path / "out"
    assert main(["benchmark", "challenge", "--generated", str(gen), "--real", str(real), "--out", str(out),
                 "--arms", "generated", *FAST]) == 0
    arm = json.loads((out / "report.json").read_text())["result"]["arms"]["generated"]
    assert set(arm["per_class"]) == {"nod", "wave"} and arm["per_factor"] == {"hand": None, "region": None,
                                                                              "category": None}
    assert "| – | – | – |" in (out / "report.md").read_text()
