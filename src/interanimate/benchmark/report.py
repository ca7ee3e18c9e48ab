"""The benchmark's outputs: ``report.md``, ``report.json`` and the plots, rendered in memory once everything is
computed and then written atomically (``report.json`` last: a folder with it holds a finished report)."""

from __future__ import annotations

import io
import math
from pathlib import Path


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def confusion_png(classes: list[str], arms: dict[str, dict]) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, axes = plt.subplots(1, len(arms), figsize=(5.2 * len(arms), 5), squeeze=False)
    for ax, (arm, result) in zip(axes[0], arms.items()):
        m = np.asarray(result["confusion"], dtype=float)
        rows = m / np.maximum(m.sum(axis=1, keepdims=True), 1)  # each true class's row sums to 1
        ax.imshow(rows, cmap="Blues", vmin=0, vmax=1)
        ax.set_title(f"trained on {arm}: top-1 {result['top1']:.2f}", fontsize=9)
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=6)
        ax.set_yticks(range(len(classes)), classes, fontsize=6)
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
    return _png(fig)


def det_png(det: list[tuple[float, float, float]], eer: float) -> bytes:
    """DET curve (worst-species APCER against BPCER) on normal-deviate axes, as ISO/IEC 30107-3 plots it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np
    from scipy.stats import norm

    clip = lambda v: np.clip(np.asarray(v, dtype=float), 1e-3, 1 - 1e-3)  # noqa: E731 — probit needs (0, 1)
    a = clip([p[1] for p in det])
    b = clip([p[2] for p in det])
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(norm.ppf(a), norm.ppf(b), drawstyle="steps-post")
    ticks = [0.001, 0.01, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 0.95]
    ax.set_xticks(norm.ppf(ticks), [f"{t:g}" for t in ticks], fontsize=7)
    ax.set_yticks(norm.ppf(ticks), [f"{t:g}" for t in ticks], fontsize=7)
    ax.plot(norm.ppf([1e-3, 1 - 1e-3]), norm.ppf([1e-3, 1 - 1e-3]), "k:", lw=0.8)
    ax.set_xlabel("APCER (worst species)")
    ax.set_ylabel("BPCER")
    ax.set_title(f"DET, EER {eer:.3f}" if not math.isnan(eer) else "DET")
    ax.grid(True, lw=0.3)
    return _png(fig)


def write_report(out: Path, report: dict, markdown: str, images: dict[str, bytes]) -> list[Path]:
    """Everything into ``out`` (created), images first, ``report.md``, then ``report.json``."""
    from interanimate.utils.io import write_bytes_atomic, write_json_atomic, write_text_atomic

    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, data in images.items():
        write_bytes_atomic(out / name, data)
        written.append(out / name)
    write_text_atomic(out / "report.md", markdown)
    write_json_atomic(out / "report.json", report)
    return written + [out / "report.md", out / "report.json"]


def _ci(pair) -> str:
    lo, hi = pair
    return "–" if lo is None or (isinstance(lo, float) and math.isnan(lo)) else f"[{lo:.3f}, {hi:.3f}]"


def challenge_markdown(report: dict) -> str:
    r = report["result"]
    lines = ["# Challenge verification: trained on generated, tested on real", "",
             f"Test: {report['real']} held-out identities. Classes: {len(r['classes'])} (chance "
             f"{1 / len(r['classes']):.3f}). Seed {report['options']['seed']}. What counts as real here: "
             f"{report['real_note']}", "",
             "## Classification Accuracy Score", "",
             "| trained on | train clips (identities) | train top-1 | test top-1 | 95 % CI (identities) | "
             "hand | face region | category |", "|---|---|---|---|---|---|---|---|"]
    for arm, a in r["arms"].items():
        f = {k: ("–" if v is None else f"{v:.3f}") for k, v in a["per_factor"].items()}
        lines.append(f"| {arm} | {a['train_clips']} ({a['train_identities']}) | {a['train_top1']:.3f} | "
                     f"**{a['top1']:.3f}** | {_ci(a['top1_ci95'])} | {f['hand']} | {f['region']} | "
                     f"{f['category']} |")
    if "generated" in r["arms"] and "real" in r["arms"] and r["arms"]["real"]["top1"] > 0:
        lines += ["", f"CAS ratio (generated / real): {r['arms']['generated']['top1'] / r['arms']['real']['top1']:.2f}"]
    lines += ["", "## Top-1 per class", "", "| class | " + " | ".join(r["arms"]) + " |",
              "|---|" + "---|" * len(r["arms"])]
    for code in r["classes"]:
        cells = [a["per_class"].get(code) for a in r["arms"].values()]
        lines.append(f"| {code} | " + " | ".join("–" if v is None else f"{v:.2f}" for v in cells) + " |")
    lines += ["", "![confusion matrices](confusion.png)", "",
              f"Test clips {next(iter(r['arms'].values()))['test_clips']}; command: `{report['command']}`", ""]
    return "\n".join(lines)


def pad_markdown(report: dict) -> str:
    r = report["result"]
    f, ci, counts = r["figures"], r["ci95"], r["counts"]
    lines = ["# Presentation-attack detection (ISO/IEC 30107-3 figures)", "",
             "Bona fide: " + report["bona_fide_note"] + " Attack: every clip of each generated set (a synthetic video "
             "injected in place of a live capture); each set's model, weights and steps name an attack species. "
             f"The detector's score is its probability of attack; decision threshold {f['threshold']:g}. Seed "
             f"{report['options']['seed']}.", "",
             "| figure | value | 95 % CI (identities) |", "|---|---|---|"]
    for sp in r["species"]:
        lines.append(f"| APCER — {sp} | {f['apcer'][sp]:.3f} | {_ci(ci.get('apcer/' + sp, (None, None)))} |")
    lines += [f"| **APCER (worst species: {f['apcer_worst_species']})** | **{f['apcer_worst']:.3f}** | "
              f"{_ci(ci['apcer_worst'])} |",
              f"| **BPCER** | **{f['bpcer']:.3f}** | {_ci(ci['bpcer'])} |"]
    for target, value in f["bpcer_at_apcer"].items():
        lines.append(f"| BPCER at APCER {float(target):.0%} | {value:.3f} | {_ci(ci['bpcer_at_apcer/' + target])} |")
    lines += [f"| EER (development only) | {f['eer']:.3f} | {_ci(ci['eer'])} |", "",
              "| part | bona fide clips (subjects) | attack clips (subjects) |", "|---|---|---|"]
    for part in ("train", "test"):
        c = counts[part]
        lines.append(f"| {part} | {c['bona_fide_clips']} ({c['bona_fide_subjects']}) | {c['attack_clips']} "
                     f"({c['attack_subjects']}) |")
    lines += ["", f"Detector accuracy on its own training clips: {r['train_accuracy']:.3f}.", "",
              "![DET curve](det.png)", "", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)
