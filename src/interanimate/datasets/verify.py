"""``interanimate dataset verify DIR``: every file of every finished clip is there and decodes, every video carries
the watermark, and the labels agree with the plan, the taxonomy and each other."""

from __future__ import annotations

from pathlib import Path

from interanimate.datasets.clip import clip_damage, is_done, read_label
from interanimate.datasets.engine import MANIFEST_JSONL, flat_record, load_job_from_out
from interanimate.datasets.labels import class_labels


def _check_clip(out: Path, row, label: dict, outputs) -> list[str]:
    from interanimate.pipelines.watermark import verify_video
    from interanimate.utils.io import load_npz

    problems = []
    where = f"{row.clip_id}:"
    wanted = {"video"} | {name for name in ("poses", "masks", "preview") if getattr(outputs, name)}
    files = label.get("files", {})
    for name in sorted(wanted):
        if name not in files or not (out / files[name]).is_file():
            problems.append(f"{where} {name} file missing")
    for key, value in class_labels(row.class_code).items():
        if label.get(key) != value:
            problems.append(f"{where} {key} is {label.get(key)!r}, the class {row.class_code} says {value!r}")
    for key in ("split", "identity", "clip_id", "index", "seed", "motion_seed"):
        if label.get(key) != getattr(row, key):
            problems.append(f"{where} {key} is {label.get(key)!r}, the plan says {getattr(row, key)!r}")
    if label.get("synthetic") is not True or label.get("attack") is not True:
        problems.append(f"{where} not labelled synthetic / attack")
    video = out / files.get("video", "")
    if video.is_file():
        try:
            report = verify_video(video)
        except (ValueError, OSError) as err:
            problems.append(f"{where} video does not decode ({err})")
        else:
            if report.frames != label.get("frames"):
                problems.append(f"{where} video has {report.frames} frames, the label says {label.get('frames')}")
            if not report.present:
                problems.append(f"{where} video carries no watermark ({report.bit_accuracy:.0%} of payload bits)")
    if "masks" in files and (out / files["masks"]).is_file():
        try:
            masks = load_npz(out / files["masks"])
            shape = (label.get("frames"), label.get("height"), label.get("width"))
            if any(masks[k].shape != shape for k in ("hand_mask", "face_mask")):
                problems.append(f"{where} masks are not {shape}")
        except Exception as err:  # noqa: BLE001 - any unreadable archive is one problem line
            problems.append(f"{where} masks do not load ({err})")
    first, last = label.get("contact_first_frame"), label.get("contact_last_frame")
    if not (first == last == -1 or (isinstance(first, int) and 0 <= first <= last < label.get("frames", 0))):
        problems.append(f"{where} contact frames {first}..{last} are not within the clip")
    return problems


def verify(out: str | Path) -> tuple[list[str], int]:
    """-> (problems, one line each; clips checked)."""
    out = Path(out)
    job = load_job_from_out(out)
    problems, checked, labels = [], 0, {}
    for row in job.rows:
        if not is_done(out, row.clip_id):
            continue
        checked += 1
        damage = clip_damage(out, row.clip_id)
        if damage is not None and not damage.endswith("file missing"):  # a missing file: _check_clip names it
            problems.append(f"{row.clip_id}: {damage} (the next `dataset generate` makes it again)")
        if damage is not None and damage.startswith("label.json"):
            continue  # nothing more to check against
        label = read_label(out, row.clip_id)
        labels[row.clip_id] = label
        problems += _check_clip(out, row, label, job.recipe.outputs)
    splits: dict[str, set[str]] = {}
    for label in labels.values():
        splits.setdefault(label["identity"], set()).add(label["split"])
    problems += [f"identity {name} is in several splits: {', '.join(sorted(s))}" for name, s in splits.items()
                 if len(s) > 1]
    manifest = out / MANIFEST_JSONL
    if manifest.is_file():
        from interanimate.utils.io import read_jsonl_whole

        try:
            rows = read_jsonl_whole(manifest)
        except ValueError as err:
            problems.append(f"{err} (run `interanimate dataset generate` or `merge` again)")
            rows = []
        ids = [r["clip_id"] for r in rows]
        if len(ids) != len(set(ids)):
            problems.append(f"{manifest}: duplicate clip ids")
        expected = {cid: flat_record(label) for cid, label in labels.items()}
        if set(ids) != set(expected):
            problems.append(f"{manifest}: lists {len(ids)} clips, {len(expected)} are finished (run generate or "
                            "merge again)")
        problems += [f"{manifest}: row of {r['clip_id']} differs from its label.json" for r in rows
                     if r["clip_id"] in expected and r != expected[r["clip_id"]]]
    else:
        problems.append(f"{manifest}: missing (run `interanimate dataset generate` or `merge`)")
    return problems, checked
