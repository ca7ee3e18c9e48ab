"""``interanimate dataset report DIR``: what a set holds, as report.json, report.md and pictures.

Counts per class × split, identities per split, failures, time and clips/s, quality-score histograms
(``report/qc_*.png``) and a contact sheet (``report/contact_sheet.png``: one row per class, frames across).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from interanimate.datasets.clip import is_done
from interanimate.datasets.engine import finished_records, load_job_from_out, read_failures
from interanimate.jobs import TIMINGS_NAME
from interanimate.datasets.plan import SPLITS
from interanimate.utils.io import read_jsonl, write_json_atomic, write_text_atomic

QC_FIELDS = ("qc_hand_keypoint_coverage", "qc_hand_found_rate", "qc_hand_pck", "qc_face_found", "qc_identity_cosine",
             "qc_identity_distance")
SHEET_FRAMES = 8


def build_report(out: Path) -> dict:
    job = load_job_from_out(out)
    records = finished_records(job, job.rows)
    failures = read_failures(out)
    classes = job.recipe.classes
    counts = {code: {s: 0 for s in SPLITS} for code in classes}
    for r in records:
        counts[r["class_code"]][r["split"]] += 1
    identities = {s: sorted({r["identity"] for r in records if r["split"] == s}) for s in SPLITS}
    planned_ids = {s: sorted({row.identity for row in job.rows if row.split == s}) for s in SPLITS}
    disjoint = all(not (set(identities[a]) & set(identities[b])) for a in SPLITS for b in SPLITS if a < b)
    seconds = [r.get("seconds") for r in _timings(out, records)]
    seconds = [s for s in seconds if s is not None]
    qc = {}
    for name in QC_FIELDS:
        values = np.array([r.get(name) for r in records if r.get(name) is not None], float)
        qc[name] = {"n": int(values.size), "mean": float(values.mean()) if values.size else None,
                    "min": float(values.min()) if values.size else None,
                    "max": float(values.max()) if values.size else None}
    return {
        "name": job.recipe.name, "recipe_hash": job.recipe_hash, "planned": len(job.rows), "finished": len(records),
        "failed": len(failures), "pending": sum(not is_done(out, r.clip_id) and r.clip_id not in failures
                                                for r in job.rows),
        "counts_per_class_split": counts,
        "counts_per_split": dict(Counter(r["split"] for r in records)),
        "identities_per_split": {s: len(v) for s, v in identities.items()},
        "identities_planned_per_split": {s: len(v) for s, v in planned_ids.items()},
        "identity_disjoint": disjoint,
        "excluded_portraits": job.excluded,
        "failures": sorted(failures.values(), key=lambda f: f["index"]),
        "time": {"clips_timed": len(seconds), "seconds_per_clip": float(np.mean(seconds)) if seconds else None,
                 "clips_per_second": float(1 / np.mean(seconds)) if seconds else None},
        "quality": qc,
        "model": {"name": job.context.model_name, "sha256": job.context.model_sha256},
        "generator_version": job.context.generator_version,
    }


def _timings(out: Path, records: list[dict]) -> list[dict]:
    """Seconds per clip as the engines measured them (``timings.jsonl``, written beside the manifest)."""
    seen = {data["clip_id"]: data for data in read_jsonl(out / TIMINGS_NAME)}
    ids = {r["clip_id"] for r in records}
    return [v for k, v in seen.items() if k in ids]


def report_markdown(report: dict) -> str:
    lines = [f"# Dataset {report['name']}", "",
             f"{report['finished']} of {report['planned']} clips finished, {report['failed']} failed, "
             f"{report['pending']} pending; recipe {report['recipe_hash'][:12]}; model {report['model']['name']} "
             f"(sha256 {report['model']['sha256'][:12]}); {report['generator_version']}.", ""]
    time = report["time"]
    if time["seconds_per_clip"] is not None:
        lines += [f"Time: {time['seconds_per_clip']:.2f} s per clip ({time['clips_per_second']:.3f} clips/s per worker, "
                  f"over {time['clips_timed']} clips).", ""]
    lines += ["## Clips per class and split", "", "| class | " + " | ".join(SPLITS) + " | all |",
              "|---|" + "---|" * (len(SPLITS) + 1)]
    for code, row in report["counts_per_class_split"].items():
        lines.append(f"| {code} | " + " | ".join(str(row[s]) for s in SPLITS) + f" | {sum(row.values())} |")
    ids = report["identities_per_split"]
    lines += ["", "## Identities", "", "| split | identities |", "|---|---|"]
    lines += [f"| {s} | {ids[s]} |" for s in SPLITS]
    lines += ["", f"Identity-disjoint splits: {'yes' if report['identity_disjoint'] else 'NO'}.", ""]
    if report["excluded_portraits"]:
        lines += ["## Portraits left out at plan time", ""]
        lines += [f"- {e['file']}: {e['reason']}" for e in report["excluded_portraits"]]
        lines.append("")
    lines += ["## Quality scores", "", "| score | clips | mean | min | max |", "|---|---|---|---|---|"]
    for name, q in report["quality"].items():
        if q["n"]:
            lines.append(f"| {name} | {q['n']} | {q['mean']:.3f} | {q['min']:.3f} | {q['max']:.3f} |")
        else:
            lines.append(f"| {name} | 0 | – | – | – |")
    lines += ["", "Histograms: report/qc_*.png; a frame strip per class: report/contact_sheet.png.", "",
              "## Does it serve its purpose?", "",
              "Train a challenge verifier on this set and test it on real clips of unseen people (the Classification "
              "Accuracy Score), and score a presentation-attack detector with this set as an attack species "
              "(docs/benchmark.md):", "",
              "    interanimate benchmark challenge --generated THIS_DIR --real REAL_DIR --out REPORT_DIR",
              "    interanimate benchmark pad --bona-fide REAL_DIR --attack THIS_DIR --out REPORT_DIR", ""]
    if report["failures"]:
        lines += ["## Failures", ""]
        lines += [f"- {f['clip_id']} ({f['class_code']}, {f['identity']}): {f['reason']}" for f in report["failures"]]
        lines.append("")
    return "\n".join(lines)


def _histograms(out: Path, records: list[dict]) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from interanimate.utils.io import atomic_path

    paths = []
    for name in QC_FIELDS:
        values = [r[name] for r in records if r.get(name) is not None]
        fig, ax = plt.subplots(figsize=(4, 3), dpi=100)
        ax.hist(values, bins=20, color="#4477aa")
        ax.set_title(name.removeprefix("qc_").replace("_", " "))
        ax.set_xlabel("score")
        ax.set_ylabel("clips")
        fig.tight_layout()
        path = out / "report" / f"{name}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
        paths.append(path)
    return paths


def _contact_sheet(out: Path, records: list[dict]) -> Path | None:
    """One row per class (its first clip): SHEET_FRAMES frames across."""
    from interanimate.pipelines.outputs import stack_grids, write_png
    from interanimate.utils.video import read_video

    first = {}
    for r in records:
        first.setdefault(r["class_code"], r)
    rows = []
    for code, r in first.items():
        frames, _ = read_video(out / r["video_path"])
        picks = np.unique(np.linspace(0, len(frames) - 1, SHEET_FRAMES).round().astype(int))
        strip = np.concatenate([np.pad(frames[i], ((2, 2), (2, 2), (0, 0)), constant_values=255) for i in picks], 1)
        rows.append(strip)
    if not rows:
        return None
    path = out / "report" / "contact_sheet.png"
    write_png(path, stack_grids(rows))
    return path


def write_report(out: Path) -> list[Path]:
    out = Path(out)
    report = build_report(out)
    job = load_job_from_out(out)
    records = finished_records(job, job.rows)
    write_json_atomic(out / "report.json", report)
    write_text_atomic(out / "report.md", report_markdown(report))
    paths = [out / "report.json", out / "report.md", *_histograms(out, records)]
    sheet = _contact_sheet(out, records)
    return paths + ([sheet] if sheet else [])
