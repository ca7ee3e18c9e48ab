"""``report.json`` and ``report.md`` laid out like the paper's Table 1, and bar charts comparing runs.

The paper's rows are quoted verbatim from InterAnimate's Table 1 (six baselines and the full model, InterHF test set
of 180 videos) and Table 2 (ablations); they are labelled as quoted and are not comparable with a run on other data.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from interanimate.errors import UserError
from interanimate.utils.io import atomic_path, write_json_atomic, write_text_atomic

COLUMNS = (("fid", "FID↓"), ("ssim", "SSIM↑"), ("psnr", "PSNR↑"), ("lpips", "LPIPS↓"), ("l1", "L1↓"),
           ("fid_vid", "FID-VID↓"), ("fvd", "FVD↓"))
LOWER_IS_BETTER = {"fid", "lpips", "l1", "fid_vid", "fvd", "flicker", "warp_error"}
QUOTED = "quoted from the paper"
# (method, publication, FID, SSIM, PSNR, LPIPS ("LISPIS" in the paper), L1, FID-VID, FVD), as printed.
PAPER_TABLE1 = (
    ("Disco [45]", "CVPR 2024", "116.04", "0.482", "18.00", "0.274", "3.65E-04", "126.66", "1292.37"),
    ("AnimateAnyone [14]", "CVPR 2024", "112.67", "0.392", "13.08", "0.512", "2.32E-04", "100.71", "964.11"),
    ("MagicAnimate [52]", "CVPR 2024", "45.93", "0.509", "15.14", "0.305", "1.37E-04", "33.15", "446.19"),
    ("MimicMotion [61]", "arXiv 2024", "55.02", "0.458", "14.85", "0.363", "7.50E-05", "36.87", "498.77"),
    ("DisPose [21]", "ICLR 2025", "33.30", "0.565", "17.04", "0.246", "1.07E-04", "21.22", "338.40"),
    ("StableAnimator [40]", "CVPR 2025", "24.95", "0.748", "22.24", "0.162", "2.69E-05", "11.80", "176.20"),
    ("InterAnimate", "-", "23.22", "0.785", "23.36", "0.141", "2.27E-05", "10.79", "122.90"),
)
PAPER_TABLE2 = (
    ("w/o RIS", "31.25", "0.709", "20.53", "0.254", "2.68E-05", "17.48", "242.31"),
    ("w/o quantize", "29.66", "0.745", "21.84", "0.168", "2.52E-05", "12.88", "175.13"),
    ("w/o o-loss", "25.76", "0.772", "23.29", "0.153", "2.01E-05", "10.34", "174.02"),
    ("w/o ID", "25.77", "0.767", "23.05", "0.153", "2.11E-05", "10.31", "165.03"),
    ("ours", "23.22", "0.785", "23.36", "0.141", "2.27E-05", "10.79", "122.90"),
)


def format_value(key: str, entry: dict | None) -> str:
    if not entry or entry.get("value") is None:
        return (entry or {}).get("note", "n/a")
    value = entry["value"]
    if key == "l1" and value < 1e-2:
        return f"{value:.2E}"
    if key in ("flicker", "warp_error", "warp_error_gt"):
        return f"{value:.4f}"
    return f"{value:.3f}" if key in ("ssim", "lpips", "similarity") else f"{value:.2f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table1_markdown(report: dict, label: str = "this run") -> list[str]:
    lines = [_row(("Method", "Publication", "Source", *(title for _, title in COLUMNS))),
             _row(("---",) * (3 + len(COLUMNS)))]
    lines += [_row((m, pub, f"{QUOTED} (Table 1)", *vals)) for m, pub, *vals in PAPER_TABLE1]
    lines.append(_row((f"**{label}**", "-", f"measured ({report['protocol']} protocol)",
                       *(format_value(k, report["metrics"].get(k)) for k, _ in COLUMNS))))
    return lines


def _extras_markdown(report: dict) -> list[str]:
    lines = []
    if report.get("region"):
        region = report["region"]
        lines += ["", "## Hand ∪ face region (beyond the paper)", "",
                  _row(("SSIM↑", "PSNR↑", "LPIPS↓", "L1↓", "frames without mask")), _row(("---",) * 5),
                  _row((*(format_value(k, region[k]) for k in ("ssim", "psnr", "lpips", "l1")),
                        region["frames_without_mask"]))]
    if report.get("identity"):
        ident = report["identity"]
        lines += ["", "## Identity similarity to the reference face (beyond the paper)", "",
                  _row(("cosine↑", "embedder", "faces detected", "faces from mask box", "frames skipped")),
                  _row(("---",) * 5), _row((format_value("similarity", ident["similarity"]), ident["embedder"],
                                            ident["detected"], ident["from_mask"], ident["skipped"]))]
    if report.get("hands"):
        hands = report["hands"]
        model, truth = hands["model"], hands["ground_truth"]

        def num(value, fmt):
            return "n/a" if value is None or value != value else fmt.format(value)

        lines += ["", "## Hands (beyond the paper)", "",
                  f"{hands['detector']}; frames whose keypoints show a hand: {model['frames_with_hand']}.", "",
                  _row(("hand found (predictions)", "hand found (ground truth)", "ratio↑", "PCK@0.2↑",
                        "hand PSNR↑", "hand SSIM↑")), _row(("---",) * 6),
                  _row((num(model["detection_rate"], "{:.3f}"), num(truth["detection_rate"], "{:.3f}"),
                        num(hands["ratio"], "{:.2f}"), num(model["pck"], "{:.2f}"), num(model["hand_psnr"], "{:.2f}"),
                        num(model["hand_ssim"], "{:.3f}")))]
    if report.get("temporal"):
        temp = report["temporal"]
        lines += ["", "## Temporal consistency (beyond the paper)", "",
                  _row(("flicker↓", "warp error↓", "warp error of the ground truth (floor)")), _row(("---",) * 3),
                  _row(tuple(format_value(k, temp[k]) for k in ("flicker", "warp_error", "warp_error_gt")))]
    return lines


def report_markdown(report: dict) -> str:
    inputs = report["inputs"]
    lines = ["# Evaluation report", "",
             f"Predictions `{inputs['pred']}` vs ground truth `{inputs['gt']}`: {inputs['videos']} videos, "
             f"{inputs['frames']} frames, {inputs['clips']} clips of {report['config']['clip_length']} frames "
             f"({report['config']['clip_mode']}); protocol `{report['protocol']}`; wall time "
             f"{report.get('wall_time_s', '?')} s.", "",
             "The rows marked *quoted from the paper* are copied from InterAnimate's Table 1 (InterHF test set, "
             "180 videos); they are there for reference and are not comparable with a run on other data.", "",
             *table1_markdown(report), "", "Networks used:", ""]
    for key, title in COLUMNS:
        entry = report["metrics"].get(key, {})
        if entry.get("backbone"):
            lines.append(f"- {title.rstrip('↑↓')}: {entry['backbone']}")
    lines += _extras_markdown(report)
    if report.get("notes"):
        lines += ["", "## Notes", "", *(f"- {note}" for note in report["notes"])]
    return "\n".join(lines) + "\n"


def write_report(out_dir: str | os.PathLike, report: dict) -> tuple[Path, Path]:
    out_dir = Path(out_dir)
    write_json_atomic(out_dir / "report.json", report)
    write_text_atomic(out_dir / "report.md", report_markdown(report))
    return out_dir / "report.json", out_dir / "report.md"


def load_report(path: str | os.PathLike) -> dict:
    path = Path(path)
    path = path / "report.json" if path.is_dir() else path
    if not path.is_file():
        raise UserError(f"--compare: no report.json at {path}")
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise UserError(f"--compare: {path} is not valid JSON ({err.msg})") from None
    if "metrics" not in report:
        raise UserError(f"--compare: {path} is not an evaluation report (no 'metrics')")
    return report


def _run_labels(paths: list[str | os.PathLike]) -> list[str]:
    """Folder names of the runs; where two share a name, more of the path until they differ."""
    folders = [(Path(p).parent if Path(p).name == "report.json" else Path(p)).resolve() for p in paths]
    for depth in range(1, max(len(f.parts) for f in folders) + 1):
        labels = ["/".join(f.parts[-depth:]) for f in folders]
        if len(set(labels)) == len(labels):
            return labels
    raise UserError("--compare: the same run is given twice")


def compare_runs(run_paths: list[str | os.PathLike], out_dir: str | os.PathLike) -> list[Path]:
    """Table of several runs (``compare.md``, ``compare.json``) and one bar chart PNG per metric with values."""
    if len(run_paths) < 2:
        raise UserError("--compare needs at least two runs")
    runs = {label: load_report(p) for label, p in zip(_run_labels(run_paths), run_paths)}
    out_dir = Path(out_dir)
    lines = ["# Comparison of runs", "", _row(("Run", "Protocol", *(t for _, t in COLUMNS))),
             _row(("---",) * (2 + len(COLUMNS)))]
    lines += [_row((name, r["protocol"], *(format_value(k, r["metrics"].get(k)) for k, _ in COLUMNS)))
              for name, r in runs.items()]
    lines += ["", f"For reference, {QUOTED} (Table 2, ablations on InterHF):", "",
              _row(("Variant", *(t for _, t in COLUMNS))), _row(("---",) * (1 + len(COLUMNS))),
              *(_row(r) for r in PAPER_TABLE2)]
    written = [out_dir / "compare.md", out_dir / "compare.json"]
    write_text_atomic(written[0], "\n".join(lines) + "\n")
    write_json_atomic(written[1], {name: r["metrics"] for name, r in runs.items()})
    for key, title in COLUMNS:
        values = {name: r["metrics"].get(key, {}).get("value") for name, r in runs.items()}
        if any(v is not None for v in values.values()):
            written.append(bar_chart(out_dir / f"compare_{key}.png", title, values, key in LOWER_IS_BETTER))
    return written


def bar_chart(path: Path, title: str, values: dict[str, float | None], lower_is_better: bool) -> Path:
    from matplotlib.figure import Figure  # no pyplot, so no global backend is touched

    names = list(values)
    heights = [values[n] if values[n] is not None else 0.0 for n in names]
    fig = Figure(figsize=(max(4.0, 1.2 * len(names)), 3.2), dpi=120)
    ax = fig.subplots()
    bars = ax.bar(names, heights, color=["#4c72b0" if values[n] is not None else "#cccccc" for n in names])
    for bar, name in zip(bars, names):
        label = "n/a" if values[name] is None else f"{values[name]:.4g}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom",
                    fontsize=8)
    ax.set_title(f"{title} ({'lower' if lower_is_better else 'higher'} is better)")
    ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    return path
