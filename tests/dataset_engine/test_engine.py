"""The dataset engine end to end with the tiny model: plan, generate, labels, manifests, report, verify, loaders,
shards, and a CPU run of the bundled models."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from interanimate.cli import main
from interanimate.datasets.engine import load_job
from interanimate.datasets.recipe import load_recipe

from .conftest import files_of, manifest_rows

# the fields every manifest row must carry (issue: "Labels")
FIELDS = {"clip_id", "video_path", "poses_path", "masks_path", "preview_path", "class_code", "category", "hand",
          "face_region", "fingers", "identity", "split", "synthetic", "attack", "pai_species", "attack_type",
          "iso_iec_30107_3", "generator_version", "model_name", "model_sha256", "motion_source", "motion_seed",
          "steps", "guidance", "frames", "fps", "height", "width", "watermark_payload", "contact_first_frame",
          "contact_last_frame", "qc_hand_keypoint_coverage", "qc_face_found", "qc_identity_cosine",
          "qc_identity_distance", "qc_hand_frames_shown", "qc_hand_frames_found", "qc_hand_found_rate",
          "qc_hand_confidence", "qc_hand_pck"}


@pytest.fixture(scope="module")
def finished(tmp_path_factory, tiny_model):
    """One uninterrupted local run, shared by the tests that only read it."""
    import yaml

    from .conftest import recipe_dict

    root = tmp_path_factory.mktemp("finished")
    recipe = root / "recipe.yaml"
    recipe.write_text(yaml.safe_dump(recipe_dict(tiny_model)))
    out = root / "set"
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    return recipe, out


def test_plan_is_deterministic_identity_disjoint_and_balanced(write_recipe, tmp_path):
    recipe = load_recipe(write_recipe(**{"clips_per_class": 10}))
    first = load_job(recipe, tmp_path / "a", write=False)
    again = load_job(load_recipe(write_recipe(**{"clips_per_class": 10})), tmp_path / "b", write=False)
    assert [r.clip_id for r in first.rows] == [r.clip_id for r in again.rows]  # stable ids
    assert len({r.clip_id for r in first.rows}) == 30
    by_identity = {}
    for row in first.rows:
        by_identity.setdefault(row.identity, set()).add(row.split)
    assert all(len(s) == 1 for s in by_identity.values())  # identity-disjoint
    for code in recipe.classes:  # every class spread over the splits 6 : 2 : 2
        splits = [r.split for r in first.rows if r.class_code == code]
        assert (splits.count("train"), splits.count("val"), splits.count("test")) == (6, 2, 2)
    other = load_job(load_recipe(write_recipe(seed=4)), tmp_path / "c", write=False)
    assert not {r.clip_id for r in other.rows} & {r.clip_id for r in first.rows}  # another recipe, other ids


def test_batches_are_fixed_by_the_plan_and_shards_split_whole_batches(write_recipe, tmp_path):
    from interanimate.datasets.plan import batches_to_make, plan_batches, shard_rows

    rows = load_job(load_recipe(write_recipe(**{"clips_per_class": 3})), tmp_path / "a", write=False).rows  # 9
    batches = plan_batches(rows, 4)
    assert [[r.index for r in b] for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 7], [8]]
    shards = [shard_rows(rows, (i, 2), 4) for i in range(2)]
    assert [[r.index for r in s] for s in shards] == [[0, 1, 2, 3, 8], [4, 5, 6, 7]]
    # a resumed run: clips 1 and 6 are left to make; their batches are made whole, only they are written
    todo = [rows[1], rows[6]]
    work = batches_to_make(rows, todo, 4)
    assert [([r.index for r in b], w) for b, w in work] == [([0, 1, 2, 3], [rows[1].clip_id]),
                                                          ([4, 5, 6, 7], [rows[6].clip_id])]


def test_a_run_killed_while_planning_is_taken_up_again(write_recipe, tmp_path):
    """Killed after plan.jsonl but before recipe.json (the file that marks the plan done), with a temporary file
    left: the next run plans again instead of calling the folder foreign; a foreign file is still refused."""
    from interanimate.errors import UserError

    recipe = load_recipe(write_recipe())
    out = tmp_path / "out"
    load_job(recipe, out)
    want = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "recipe.json").unlink()
    (out / ".recipe.json.x1y2.tmp.json").write_text("{")  # a kill in the middle of its atomic write
    load_job(recipe, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == want
    (out / "recipe.json").unlink()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(UserError, match="not empty and holds no dataset"):
        load_job(recipe, out)


def test_total_clips_follow_the_class_weights(write_recipe, tmp_path):
    recipe = load_recipe(write_recipe(clips_per_class=None, total_clips=10,
                                      class_weights={"LH-NP": 3, "RH-EB": 1, "LR-FS": 1}))
    assert recipe.clips_by_class() == {"LH-NP": 6, "RH-EB": 2, "LR-FS": 2}


def test_generate_writes_labels_manifests_report_and_verifies(finished, capsys):
    import pyarrow.parquet as pq

    recipe, out = finished
    rows = manifest_rows(out)
    assert len(rows) == 6 and len({r["clip_id"] for r in rows}) == 6
    assert FIELDS <= set(rows[0]), sorted(FIELDS - set(rows[0]))
    assert all(r["synthetic"] and r["attack"] and r["pai_species"] == "synthetic video" for r in rows)
    for row in rows:
        assert (out / row["video_path"]).is_file() and (out / row["masks_path"]).is_file()
        assert row["category"] == {"LH-NP": "pinch", "RH-EB": "stroke", "LR-FS": "swipe"}[row["class_code"]]
        assert -1 <= row["contact_first_frame"] <= row["contact_last_frame"] < row["frames"]
    table = pq.read_table(out / "manifest.parquet").to_pylist()
    assert [t["clip_id"] for t in table] == [r["clip_id"] for r in rows]
    assert main(["dataset", "verify", str(out)]) == 0
    assert "checked 6 clips: OK" in capsys.readouterr().out
    assert main(["dataset", "report", str(out)]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["finished"] == 6 and report["identity_disjoint"] and report["time"]["clips_timed"] == 6
    assert sum(sum(v.values()) for v in report["counts_per_class_split"].values()) == 6
    for name in ("report.md", "report/contact_sheet.png", "report/qc_face_found.png"):
        assert (out / name).is_file()
    assert main(["verify-watermark", str(out / rows[0]["video_path"])]) == 0


def test_rerun_skips_everything_and_changes_nothing(finished, capsys):
    recipe, out = finished
    before = files_of(out)
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    assert "done 0, skipped 6" in capsys.readouterr().out
    assert files_of(out) == before


def test_verify_finds_a_damaged_clip(finished, tmp_path, capsys):
    recipe, out = finished
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    row = manifest_rows(copy)[0]
    (copy / row["video_path"]).write_bytes(b"not a video")
    label = copy / "clips" / row["clip_id"] / "label.json"
    data = json.loads(label.read_text())
    data["split"] = "test" if data["split"] != "test" else "train"
    label.write_text(json.dumps(data))
    assert main(["dataset", "verify", str(copy)]) == 1
    printed = capsys.readouterr().out
    assert "video does not decode" in printed and "the plan says" in printed and "differs from its label" in printed


def test_loaders_torch_and_hf_datasets(finished):
    from interanimate.datasets.torch_dataset import GeneratedClips

    _, out = finished
    train = GeneratedClips(out, split="train")
    assert 0 < len(train) < 6
    item = train[0]
    assert tuple(item["frames"].shape) == (4, 3, 32, 32) and item["hand_mask"].shape == (4, 32, 32)
    assert item["split"] == "train" and 0 <= item["label"] < 18
    datasets = pytest.importorskip("datasets")
    hf = datasets.load_dataset("parquet", data_files=str(out / "manifest.parquet"), split="train",
                               cache_dir=str(out.parent / "hf_cache"))
    assert len(hf) == 6 and set(hf.column_names) >= FIELDS


def test_shards_and_merge_equal_the_unsharded_run(finished, tmp_path):
    recipe, out = finished
    sharded = tmp_path / "sharded"
    for shard in ("0/2", "1/2"):
        assert main(["dataset", "generate", str(recipe), "--out", str(sharded), "--shard", shard,
                     "--no-progress"]) == 0
    assert not (sharded / "manifest.jsonl").exists()  # only the merge writes the one manifest
    assert main(["dataset", "merge", str(sharded)]) == 0
    want, got = files_of(out), files_of(sharded)
    got = {k: v for k, v in got.items() if not k.startswith("shards/")}
    want = {k: v for k, v in want.items() if not k.startswith("report")}
    assert got == want  # same clips, same bytes of every video and label, the same manifests


def test_merge_refuses_a_missing_shard(finished, tmp_path, capsys):
    recipe, _ = finished
    out = tmp_path / "half"
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--shard", "1/3", "--no-progress"]) == 0
    assert main(["dataset", "merge", str(out)]) == 2
    assert "0/3, 2/3 have not run" in capsys.readouterr().err


def test_a_failing_clip_is_recorded_and_the_rest_go_on(write_recipe, tmp_path, capsys):
    from interanimate.motion.export import save_poses

    poses = tmp_path / "poses"
    poses.mkdir()
    kpts, scores = np.zeros((8, 134, 2), np.float32), np.zeros((8, 134), np.float32)
    save_poses(poses / "a.npz", kpts + 10, scores + 1, 32, 32, class_code="LH-NP")
    save_poses(poses / "b.npz", kpts[:2], scores[:2], 32, 32, class_code="RH-EB")  # 2 frames: too short
    recipe = write_recipe(classes=["LH-NP", "RH-EB"], clips_per_class=1, **{"motion.source": "poses",
                                                                            "motion.poses_dir": str(poses),
                                                                            "motion.retarget": False})
    out = tmp_path / "set"
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 1
    captured = capsys.readouterr()
    assert "done 1, skipped 0, failed 1" in captured.out and "1 of 2's clips failed" in captured.err
    failures = [json.loads(line) for line in (out / "failures.jsonl").read_text().splitlines()]
    assert len(failures) == 1 and failures[0]["class_code"] == "RH-EB" and "fewer than" in failures[0]["reason"]
    assert len(manifest_rows(out)) == 1
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress", "--allow-partial"]) == 0
    assert "1 failed earlier" in capsys.readouterr().out
    save_poses(poses / "b.npz", kpts + 12, scores + 1, 32, 32, class_code="RH-EB")  # fixed; the plan is unchanged
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress", "--retry-failed"]) == 0
    assert len(manifest_rows(out)) == 2 and (out / "failures.jsonl").read_text() == ""


def test_motion_model_source_with_text_prompts(write_recipe, tmp_path):
    recipe = write_recipe(classes=["RH-NP"], clips_per_class=2, **{"motion.source": "motion-model",
                                                                   "motion.prompts": "text"})
    out = tmp_path / "set"
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    rows = manifest_rows(out)
    assert [r["motion_source"] for r in rows] == ["motion-model"] * 2
    assert all("right hand" in r["prompt"] and "nose" in r["prompt"] for r in rows)
    assert len({r["prompt"] for r in rows}) == 2  # the class's templates in turn


def test_portrait_folder_keeps_faces_and_lists_what_it_left_out(write_recipe, tmp_path, capsys, huge_png):
    import skimage.data
    from PIL import Image

    folder = tmp_path / "portraits"
    folder.mkdir()
    Image.fromarray(skimage.data.astronaut()).save(folder / "astronaut.png")  # mediapipe finds her face
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(folder / "blank.png")  # no face
    huge_png(folder / "bomb.png", 30000, 30000)  # refused before decoding, listed
    recipe = write_recipe(classes=["LH-NP"], clips_per_class=1, **{"identities.synthhf": 0,
                                                                   "identities.folder": str(folder),
                                                                   "splits": {"train": 1.0, "val": 0.0,
                                                                              "test": 0.0}})
    out = tmp_path / "set"
    assert main(["dataset", "plan", str(recipe), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "left out: blank.png (no face found" in printed and "left out: bomb.png (over the 64 megapixel" in printed
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    (row,) = manifest_rows(out)
    assert row["identity"] == "portrait-astronaut" and row["identity_kind"] == "portrait"
    # identities.framing: face (default): the portrait cropped to her face, as animate does; the preview's first cell
    # (the reference) is not the whole photo scaled down
    from interanimate.utils.media import read_image
    h, w = row["height"], row["width"]
    cell = read_image(out / row["preview_path"])[:h, :w].astype(float)
    whole = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((w, h), Image.Resampling.LANCZOS), float)
    assert np.abs(cell - whole).mean() > 10
    assert main(["dataset", "report", str(out)]) == 0
    assert "blank.png: no face found" in (out / "report.md").read_text()


@pytest.mark.slow
def test_the_shipped_recipe_runs_with_the_bundled_models(tmp_path):
    """configs/dataset_small.yaml as shipped, cut to 2 classes × 1 clip (36 clips take minutes on a CPU)."""
    from pathlib import Path

    recipe = Path(__file__).resolve().parents[2] / "configs" / "dataset_small.yaml"
    out = tmp_path / "set"
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--set", "classes=[LH-NP,RL-FS]",
                 "--set", "clips_per_class=1", "--no-progress"]) == 0
    rows = manifest_rows(out)
    assert len(rows) == 2 and rows[0]["model_name"] == "animate-small" and rows[0]["height"] == 128
    assert main(["dataset", "verify", str(out)]) == 0


def test_the_benchmark_reads_a_finished_set(finished):
    """`interanimate benchmark` (docs/benchmark.md) reads what the engine writes: every clip, its class, its species
    (model, weights, steps), its SynthHF person as a canonical identity, val/test as held out."""
    from interanimate.benchmark.sets import load_set

    _, out = finished
    rows = manifest_rows(out)
    seed = json.loads((out / "recipe.json").read_text())["recipe"]["seed"]
    clip_set = load_set(out, "--generated")
    assert clip_set.layout == "dataset" and len(clip_set.clips) == len(rows)
    by_id = {c.clip_id: c for c in clip_set.clips}
    for row in rows:
        clip = by_id[row["clip_id"]]
        assert clip.class_code == row["class_code"] and clip.held_out == (row["split"] in ("val", "test"))
        assert clip.species == f"{row['model_name']}@{row['model_sha256'][:12]}, {row['steps']} steps"
        assert clip.identity == f"synthhf:{seed}:{100_000 + int(row['identity'].split('-')[1])}"



def test_a_wan_model_generates_a_set_unchanged(write_recipe, tiny_wan_pipeline, tmp_path):
    """The engine takes a Wan-backbone pipeline folder as it takes the SVD one (``load_pipeline`` dispatches on
    model_index.json): clips of the recipe's frame count, labelled, watermarked."""
    model = tmp_path / "wan"
    tiny_wan_pipeline(32).save_pretrained(model)
    recipe = write_recipe(**{"generation.model": str(model), "clips_per_class": 1, "classes": ["LH-NP", "RH-EB"]})
    out = tmp_path / "set"
    assert main(["dataset", "generate", str(recipe), "--out", str(out), "--no-progress"]) == 0
    rows = manifest_rows(out)
    assert len(rows) == 2 and all(r["frames"] == 4 and r["height"] == r["width"] == 32 for r in rows)
    assert main(["verify-watermark", str(out / rows[0]["video_path"])]) == 0
