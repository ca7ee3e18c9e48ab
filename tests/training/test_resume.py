"""``interanimate train`` killed with SIGKILL at every kind of point and rerun with ``--resume latest`` ends with the
files of an uninterrupted run: the same bytes (weights, optimizer, EMA, RNG states, first stage, preview, final
pipeline), logs with every step once, and no temporary file left.

One run is killed, in turn: while rendering its data (mid-clip), while training its first stage, after a step but
before its first checkpoint, while writing its first checkpoint, between checkpoints, right after resuming, and while
writing its second checkpoint; then it finishes. The uninterrupted run trains in the same folder afterwards (the
killed run's folder is put aside first), on the same data: a re-rendered clip's H.264 bytes are not reproducible
(x264's mb-tree; the data tests compare videos by their frames), so both runs must read the same files for their
weights to be comparable.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from interanimate.data.synth import write_dataset

DRIVER = Path(__file__).with_name("killpoints.py")
PRELOAD = ["interanimate.cli", "interanimate.training.trainer", "interanimate.models", "accelerate",
           "torch.utils.tensorboard"]
VOLATILE_COLUMNS = {"sec", "sec_per_step"}  # wall-clock timings: the only values a rerun may change
SYNTH = {"identities": 2, "clips_per_class": 1, "frames": 4, "size": [32, 32], "seed": 0, "progress": False,
         "workers": 1}


def _config(out: Path, data: Path) -> dict:
    return {
        "output_dir": str(out), "seed": 0, "device": "cpu", "max_steps": 4, "batch_size": 1, "checkpoint_every": 2,
        "checkpoints_keep": 2, "log_every": 1, "validation_samples": 1, "validation_steps": 1, "ema_decay": 0.9,
        "trainable": ["unet", "pose_encoder", "interaction_latents", "region", "id_preserver", "image_encoder"],
        "data": {"root": str(data), "synth": SYNTH, "num_frames": 2, "size": [32, 32]},
        "model": {"unet": "tiny", "unet_overrides": {"id_embed_dim": 128},
                  "vae": {"kind": "kl2d", "block_out_channels": [32, 32, 32, 32], "latent_channels": 4,
                          "train_steps": 2, "batch_size": 1, "num_frames": 2},
                  "image_encoder": {"hidden_size": 32, "num_hidden_layers": 1, "num_attention_heads": 2,
                                    "image_size": 32, "patch_size": 8}},
        "optim": {"lr": 1e-3},
    }


def _drive(tmp_path: Path, ops: list[dict]) -> list[dict]:
    plan, results = tmp_path / "plan.json", tmp_path / "results.json"
    plan.write_text(json.dumps({"preload": PRELOAD, "ops": ops}))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": "", "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(DRIVER), str(plan), str(results)], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(results.read_text())


def _files(root: Path) -> dict[str, Path]:
    return {str(p.relative_to(root)): p for p in sorted(root.rglob("*")) if p.is_file()}


def _log_rows(text: str) -> list[dict]:
    lines = text.splitlines()
    header = lines[0].split(",")
    return [dict(zip(header, line.split(","))) for line in lines[1:]]


def _steps(snapshot: dict, name: str) -> list[int]:
    return [int(row["step"]) for row in _log_rows(snapshot["logs"][name])] if name in snapshot["logs"] else []


def _temporaries(root: Path) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if ".tmp" in p.name or p.name.startswith(".")]


def test_train_killed_anywhere_resumes_to_the_uninterrupted_run(tmp_path):
    out, data = tmp_path / "run", tmp_path / "data"
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump(_config(out, data)))
    fresh, resume = ["train", "--config", str(config)], ["train", "--config", str(config), "--resume", "latest"]
    logs = [tmp_path / f"run{i}.log" for i in range(10)]

    def run(i, argv, at=None, after=0):
        return {"op": "run", "argv": argv, "log": str(logs[i]), "kill": at and {"at": at, "after": after}}

    def snap(root):
        return {"op": "snapshot", "name": "", "root": str(root)}

    ops = [run(0, fresh, "clip", 10), snap(data), snap(out),       # 0-2: 10 clips done, the 11th half-written
           run(1, resume, "first_stage_step", 1), snap(out),       # 3-4: first-stage step 1 logged, step 2 running
           run(2, resume, "train_step", 1), snap(out),             # 5-6: step 1 done, no checkpoint yet
           run(3, resume, "save_state", 0), snap(out),             # 7-8: writing the checkpoint of step 2
           run(4, resume, "train_step", 3), snap(out),             # 9-10: step 3 done (checkpoint 2 on disk)
           run(5, resume, "train_step", 0), snap(out),             # 11-12: resumed at 2, nothing done yet
           run(6, resume, "save_state", 0), snap(out),             # 13-14: resumed at 2, writing checkpoint 4
           run(7, resume),                                         # 15: resumed at 2, finishes
           {"op": "move", "src": str(out), "dst": str(tmp_path / "killed")},
           run(8, fresh)]                                          # 17: the uninterrupted run, same data
    r = _drive(tmp_path, ops)
    text = [log.read_text() if log.is_file() else "" for log in logs]
    killed = [r[i]["signal"] for i in (0, 3, 5, 7, 9, 11, 13)]
    assert killed == [9] * 7, text
    assert r[15] == {"rc": 0, "signal": None} and r[17] == {"rc": 0, "signal": None}, text[7] + text[8]

    # killed while rendering its data: ten finished clips, the eleventh in its temporary folder, no manifest
    clips = [p for p in r[1]["paths"] if p.startswith("clips/") and p.endswith("/") and p.count("/") == 2]
    partial = [p for p in clips if p.startswith("clips/.tmp-")]
    assert len(clips) == 11 and len(partial) == 1 and "manifest.jsonl" not in r[1]["paths"]
    assert partial[0] + "video.mp4" in r[1]["paths"] and partial[0] + "annotations.npz" not in r[1]["paths"]
    assert "checkpoints/" not in r[2]["paths"]
    # killed in the first stage: its log holds step 1, there is no first-stage model yet
    assert _steps(r[4], "first_stage.csv") == [1] and "first_stage/vae/" not in r[4]["paths"]
    assert "continuing the SynthHF run" in text[1]
    # killed before the first checkpoint: the rerun found none, said so and started again from step 0
    assert "no checkpoint found" in text[2] and "starting from step 0" in text[2]
    assert _steps(r[6], "first_stage.csv") == [1, 2] and _steps(r[6], "train.csv") == [1]
    # killed while writing the first checkpoint: only its temporary folder is there
    assert _steps(r[8], "train.csv") == [1, 2] and "checkpoints/.tmp-step-00000002/" in r[8]["paths"]
    assert "checkpoints/step-00000002/" not in r[8]["paths"] and "first stage: loading" in text[3]
    # started from 0 again (row 1 and 2 logged again, not twice), killed between checkpoints
    assert "no checkpoint found" in text[4] and _steps(r[10], "train.csv") == [1, 2, 3]
    assert "checkpoints/step-00000002/" in r[10]["paths"] and "checkpoints/.tmp-step-00000002/" not in r[10]["paths"]
    # resumed at 2 and killed before its first step: the killed run's row 3 is gone (no row after the checkpoint)
    assert "resumed from" in text[5] and "at step 2" in text[5] and _steps(r[12], "train.csv") == [1, 2]
    # resumed at 2 and killed while writing checkpoint 4: rows 3 and 4 are there once each
    assert _steps(r[14], "train.csv") == [1, 2, 3, 4] and "checkpoints/.tmp-step-00000004/" in r[14]["paths"]
    assert all("resumed from" in text[i] and "at step 2" in text[i] for i in (6, 7))

    a, b = _files(tmp_path / "killed"), _files(out)
    a_names = {k for k in a if not k.startswith("logs/tensorboard/")}
    b_names = {k for k in b if not k.startswith("logs/tensorboard/")}
    assert a_names == b_names
    assert {"final/model_index.json", "checkpoints/step-00000004/model.safetensors", "first_stage/vae/config.json",
            "validation/step-00000004.png", "logs/train.csv", "logs/first_stage.csv"} <= a_names
    differ = sorted(k for k in a_names if not k.startswith("logs/") and a[k].read_bytes() != b[k].read_bytes())
    assert not differ, f"the resumed run's files differ from the uninterrupted run's: {differ}"
    for name in ("train.csv", "first_stage.csv"):
        rows_a, rows_b = (_log_rows(f.read_text()) for f in (a[f"logs/{name}"], b[f"logs/{name}"]))
        assert [row["step"] for row in rows_a] == [str(s) for s in range(1, 5 if name == "train.csv" else 3)]
        strip = [{k: v for k, v in row.items() if k not in VOLATILE_COLUMNS} for row in rows_a + rows_b]
        assert strip[:len(rows_a)] == strip[len(rows_a):]
    assert len(list((tmp_path / "killed" / "logs" / "tensorboard" / "train").iterdir())) >= 1
    assert not _temporaries(tmp_path / "killed") and not _temporaries(data)

    # the data: every file but the videos byte-identical to an uninterrupted render's, the videos the same frames
    reference = tmp_path / "reference_data"
    write_dataset(reference, **{**SYNTH, "workers": 2})
    ours, theirs = _files(data), _files(reference)
    assert set(ours) == set(theirs)
    assert all(ours[k].read_bytes() == theirs[k].read_bytes() for k in ours if not k.endswith(".mp4"))
