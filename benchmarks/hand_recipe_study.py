"""Which recipe draws a hand: short training runs of equal wall time, scored by hand re-detection.

    python benchmarks/hand_recipe_study.py --minutes 15 --out runs/hand_study [--arms A B ...] [--threads 1]

Every arm continues the bundled model (``configs/train_small_hands.yaml`` with ``model.init_from`` the bundled
folder, so all start from the same weights) for ``--minutes`` of wall time (``time_limit_minutes``; constant LR
1e-4 after 100 warm-up steps, EMA 0.99 so that a short run's average is not mostly its start), with one change each:

| arm | size | hand shape map | loss |
|---|---|---|---|
| ``64-skeleton`` | 64×64 | no | stage 3's (α_h 8, ln σ ~ N(0, 1.4²)) — today's recipe, continued |
| ``64-handmap`` | 64×64 | yes | stage 3's |
| ``128-skeleton`` | 128×128 | no | stage 3's |
| ``128-handmap`` | 128×128 | yes | stage 3's (the shipped stage 4's recipe) |
| ``128-handmap-hand16`` | 128×128 | yes | α_h 16 (twice the hand weight) |
| ``128-handmap-lownoise`` | 128×128 | yes | ln σ ~ N(−0.6, 1.4²): more weight on the low noise where fine structure forms |

plus ``start`` (the bundled model itself, no training). Each is scored on 18 held-out SynthHF clips (one per class;
identities ≥ 100 000 and ``--eval-seed`` 7, which no shipped config uses; a steady camera; frame 0 as the reference,
the clip's own keypoints, the dlib identity of the reference, 12 steps, guidance 1.5 — ``pipelines.demo.run_demo``)
with ``interanimate.metrics.hands``. Columns: the first stage's round-trip re-detection ratio at the arm's size
(``benchmarks/first_stage_quality.py``'s measure on the arm's own data), the model's re-detection ratio (generated /
ground truth on the same frames), PCK@0.2, hand-only PSNR/SSIM, hand ∪ face region PSNR/SSIM, steps trained and
seconds per step. Arms run one after the other with ``--threads`` torch threads; a killed study reruns with the same
command (a finished arm is kept; an unfinished one resumes from its last checkpoint — its wall time is then longer).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "train_small_hands.yaml"
ARMS = {
    "64-skeleton": ["data.size=[64,64]", "model.unet_overrides.hand_map_channels=0"],
    "64-handmap": ["data.size=[64,64]"],
    "128-skeleton": ["model.unet_overrides.hand_map_channels=0"],
    "128-handmap": [],
    "128-handmap-hand16": ["loss.alpha_hand=16.0"],
    "128-handmap-lownoise": ["loss.p_mean=-0.6"],
}
COMMON = ["max_steps=100000", "optim.lr_decay_steps=0", "ema_decay=0.99", "checkpoint_every=100",
          "validate_every=0"]


def train_arm(name: str, out: Path, minutes: float, threads: int) -> Path:
    from interanimate.pipelines import bundled_model_dir

    run = out / name
    if (run / "final" / "model_index.json").is_file():
        return run / "final"
    sets = [*COMMON, f"time_limit_minutes={minutes}", f"output_dir={run}",
            f"model.init_from={bundled_model_dir()}", *ARMS[name]]
    command = [sys.executable, "-m", "interanimate", "train", "--config", str(CONFIG), "--resume", "latest"]
    for item in sets:
        command += ["--set", item]
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    print(f"[study] training {name}: {' '.join(command[3:])}", flush=True)
    subprocess.run(command, check=True, env=env, cwd=ROOT)
    return run / "final"


def train_log(run: Path) -> tuple[int, float]:
    """(steps trained, mean seconds per step) from the run's logs/train.csv."""
    path = run / "logs" / "train.csv"
    if not path.is_file():
        return 0, float("nan")
    rows = list(csv.DictReader(path.open()))
    if not rows:
        return 0, float("nan")
    times = [float(r["sec_per_step"]) for r in rows[1:] or rows]  # the first window holds the start-up
    return int(rows[-1]["step"]), sum(times) / len(times)


def evaluate(model_dir: Path, out: Path, seed: int, steps: int) -> dict:
    """The arm's scores (its ``eval/metrics.json`` when an earlier, killed study already wrote it)."""
    import torch

    from interanimate.pipelines.demo import run_demo
    from interanimate.taxonomy import CODES

    if (out / "metrics.json").is_file():
        report = json.loads((out / "metrics.json").read_text())
    else:
        torch.manual_seed(0)
        report = run_demo(out, model_dir, list(CODES), steps=steps, guidance=1.5, seed=seed, batch_size=6,
                          grid_classes=6, camera_jitter=0.0, progress=False)
    hands = report["hands"]
    mean = report["mean_over_classes"]
    return {"ratio": hands["ratio"], "model_rate": hands["model"]["detection_rate"],
            "located_rate": hands["model"].get("located_rate", float("nan")),
            "gt_rate": hands["ground_truth"]["detection_rate"], "frames_with_hand": hands["model"]["frames_with_hand"],
            "pck": hands["model"]["pck"], "hand_psnr": hands["model"]["hand_psnr"],
            "hand_ssim": hands["model"]["hand_ssim"], "region_psnr": mean["model"]["psnr"],
            "region_ssim": mean["model"]["ssim"], "repeat_psnr": mean["repeat_reference"]["psnr"],
            "repeat_ssim": mean["repeat_reference"]["ssim"], "size": report["size"][0],
            "generate_s": report["timings_s"]["generate_s"]}


def first_stage_ratio(size: int, data_root: Path, cache: dict) -> float:
    if size not in cache:
        sys.path.insert(0, str(ROOT / "benchmarks"))
        from first_stage_quality import measure

        from interanimate.metrics.hands import HandDetector

        with HandDetector() as detector:
            cache[size] = measure(f"{size}:8:32:bundled", data_root, detector, max_clips=36)["ratio"]
    return cache[size]


def main() -> None:
    import torch

    from interanimate.training.config import load_config
    from interanimate.pipelines import bundled_model_dir

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=15.0, help="wall time of each arm's training")
    parser.add_argument("--out", type=Path, default=Path("runs/hand_study"))
    parser.add_argument("--arms", nargs="+", default=["start", *ARMS], choices=["start", *ARMS])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--eval-seed", type=int, default=7)
    parser.add_argument("--steps", type=int, default=12, help="sampler steps of the evaluation")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    data_root = ROOT / load_config(CONFIG).data.root
    results_path = args.out / "results.json"
    results = json.loads(results_path.read_text()) if results_path.is_file() else {}
    cache: dict = {}
    for name in args.arms:
        if name in results:
            continue
        model = bundled_model_dir() if name == "start" else train_arm(name, args.out, args.minutes, args.threads)
        row = evaluate(model, args.out / name / "eval", args.eval_seed, args.steps)
        row["steps"], row["sec_per_step"] = (0, float("nan")) if name == "start" else train_log(args.out / name)
        row["first_stage_ratio"] = first_stage_ratio(row["size"], data_root, cache)
        results[name] = row
        results_path.write_text(json.dumps(results, indent=2))
        print(f"[study] {name}: {row}", flush=True)
    print(f"\n{args.minutes:g} min of training per arm, {args.threads} torch thread(s); held-out clips: 18 classes, "
          f"eval seed {args.eval_seed}, steady camera\n")
    print(table(results))


def table(results: dict) -> str:
    """The study's Markdown table (a score that could not be computed, NaN or null, shows as –)."""
    def f(value, spec: str) -> str:
        return "–" if value is None or value != value else format(value, spec)

    lines = ["| arm | size | first stage round-trip ratio | hand found: model (where the pose puts it) / ground truth "
             "| ratio | PCK@0.2 | hand PSNR / SSIM | hand ∪ face PSNR / SSIM (repeat the reference) | steps | s/step |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['size']} | {f(r['first_stage_ratio'], '.2f')} | {f(r['model_rate'], '.3f')} "
            f"({f(r.get('located_rate'), '.3f')}) / {f(r['gt_rate'], '.3f')} | {f(r['ratio'], '.2f')} | "
            f"{f(r['pck'], '.2f')} | {f(r['hand_psnr'], '.2f')} / {f(r['hand_ssim'], '.3f')} | "
            f"{f(r['region_psnr'], '.2f')} / {f(r['region_ssim'], '.3f')} ({f(r['repeat_psnr'], '.2f')} / "
            f"{f(r['repeat_ssim'], '.3f')}) | {r['steps']} | {f(r['sec_per_step'], '.2f')} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
