"""What the web app's buttons do, as plain functions (testable without a browser): each calls the library function
or command the command line calls — ``animate`` through the ``interanimate animate`` command's own parser and run,
the dataset table from the set's manifest, generation as ``interanimate dataset generate`` in a child process — and
turns a :class:`~interanimate.errors.UserError` into the one-line message the page shows."""

from __future__ import annotations

import contextlib
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path

from interanimate.errors import UserError
from interanimate.ui.roots import Roots

TABLE_COLUMNS = ("clip_id", "class_code", "split", "identity", "hand", "face_region", "qc_hand_found_rate",
                 "qc_hand_pck", "qc_identity_cosine", "qc_face_found")
QC_COLUMNS = ("qc_hand_found_rate", "qc_hand_pck", "qc_identity_cosine", "qc_face_found")
SOURCES = ("class", "text", "pose file", "driving video")


@dataclass
class AnimateResult:
    video: Path
    preview: Path
    gif: Path
    poses: Path | None
    log: str


def sample_portrait(workdir: Path, index: int = 0, size: int = 128) -> Path:
    """Frame 0 of a held-out SynthHF clip (a person no training set holds), written as a PNG to ``workdir``."""
    from interanimate.data.synth.heldout import render_heldout_clip
    from interanimate.pipelines.outputs import write_png

    path = workdir / f"sample_{index}.png"
    if not path.is_file():
        clip = render_heldout_clip("LH-NP", index, frames=1, size=(size, size), camera_jitter=0.0)
        write_png(path, clip["frames"][0], provenance=False)
    return path


def animate_argv(reference: Path, out: Path, source: str, class_code: str | None, text: str | None,
                 pose_file: str | None, video_file: str | None, steps: int, guidance: float, frames: int, seed: int,
                 model_dir: Path | None) -> list[str]:
    """The ``interanimate animate`` command line for the page's choices."""
    argv = ["animate", "--reference", str(reference), "--out", str(out), "--steps", str(int(steps)),
            "--guidance", str(float(guidance)), "--frames", str(int(frames)), "--seed", str(int(seed))]
    if model_dir is not None:
        argv += ["--model", str(model_dir)]
    if source == "class":
        if not class_code:
            raise UserError("choose an interaction class")
        argv += ["--class", class_code.split(" ")[0]]
    elif source == "text":
        argv += ["--text", text or ""]
    elif source == "pose file":
        if not pose_file:
            raise UserError("upload a pose file (.npz)")
        argv += ["--driving-poses", str(pose_file)]
    elif source == "driving video":
        if not video_file:
            raise UserError("upload a driving video")
        argv += ["--driving-video", str(video_file)]
    else:
        raise UserError(f"unknown motion source {source!r}")
    return argv


def run_animate(argv: list[str]) -> AnimateResult:
    """Run the ``animate`` command in this process; its printed lines become the log, its error the message."""
    from interanimate.cli import build_parser
    from interanimate.cli.animate import output_paths

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            args = build_parser().parse_args(argv)
        except SystemExit:
            raise UserError(stderr.getvalue().strip().splitlines()[-1] if stderr.getvalue().strip()
                            else "invalid settings") from None
        args.func(args)
    paths = output_paths(args.out, bool(args.class_code or args.text))
    poses = paths[3] if len(paths) > 3 else None
    return AnimateResult(paths[0], paths[1], paths[2], poses, (stdout.getvalue() + stderr.getvalue()).strip())


def new_output(workdir: Path) -> Path:
    folder = workdir / "animate" / uuid.uuid4().hex[:12]
    folder.mkdir(parents=True, exist_ok=True)
    return folder / "video.mp4"


# ---------------------------------------------------------------------------------------------- datasets
def open_dataset(roots: Roots, folder: str):
    """The manifest of a finished set inside the roots, as a pandas DataFrame (columns TABLE_COLUMNS that exist)."""
    import pandas as pd

    from interanimate.utils.io import read_jsonl_whole

    root = roots.resolve(folder, "dataset folder")
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        raise UserError(f"{folder}: not a dataset made by `interanimate dataset` (no manifest.jsonl)")
    try:
        rows = read_jsonl_whole(manifest)
    except (ValueError, OSError) as err:
        raise UserError(f"{folder}: unreadable manifest ({err})") from None
    if rows and "video_path" not in rows[0]:
        raise UserError(f"{folder}: a training set (SynthHF / prepare), not a generated one; open a set made by "
                        "`interanimate dataset generate`")
    frame = pd.DataFrame(rows)
    for column in QC_COLUMNS:
        if column in frame:
            frame[column] = pd.to_numeric(frame[column], errors="coerce").round(3)
    return root, frame


def find_sets(roots: Roots, depth: int = 3, limit: int = 200) -> list[Path]:
    """Generated sets (a ``manifest.jsonl`` beside a ``clips/`` folder) within ``depth`` levels of the roots; what the
    Dataset tab offers to open."""
    found: list[Path] = []
    for root in roots.roots:
        level = [root]
        for _ in range(depth + 1):
            following = []
            for folder in level:
                if (folder / "manifest.jsonl").is_file() and (folder / "clips").is_dir() and folder in roots:
                    found.append(folder)
                try:
                    following += [p for p in sorted(folder.iterdir()) if p.is_dir() and not p.is_symlink()]
                except OSError:
                    continue
            level = following[:limit]
            if len(found) >= limit:
                return found[:limit]
    return found


def filter_table(frame, classes: list[str] | None, splits: list[str] | None, identity: str | None,
                 min_hand: float | None):
    """Rows of ``frame`` matching every filter given (an empty filter keeps everything)."""
    keep = frame.index == frame.index
    if classes:
        keep &= frame["class_code"].isin(classes)
    if splits:
        keep &= frame["split"].isin(splits)
    if identity:
        keep &= frame["identity"].astype(str).str.contains(identity.strip(), regex=False)
    if min_hand and "qc_hand_found_rate" in frame:
        keep &= frame["qc_hand_found_rate"].fillna(0) >= float(min_hand)
    columns = [c for c in TABLE_COLUMNS if c in frame]
    return frame.loc[keep, columns].reset_index(drop=True)


def clip_files(roots: Roots, root: Path, row: dict) -> tuple[Path, Path | None, dict]:
    """The clip's video, its preview PNG and its label (the manifest row), each path checked inside the roots."""
    video = roots.resolve(root / row["video_path"], "clip video")
    preview = row.get("preview_path")
    preview = roots.resolve(root / preview, "clip preview") if preview else None
    label = {k: v for k, v in row.items() if not str(k).endswith("_path")}
    return video, preview if preview and preview.is_file() else None, label


def report_images(roots: Roots, root: Path) -> list[Path]:
    folder = root / "report"
    if not folder.is_dir():
        return []
    return [roots.resolve(p, "report image") for p in sorted(folder.glob("*.png"))]


def recipes(roots: Roots) -> list[Path]:
    """The dataset recipes on offer: the checkout's shipped ``configs/dataset_*.yaml`` (when running from one) and
    any ``*.yaml`` at the top of a data folder."""
    found = []
    checkout = Path(__file__).resolve().parents[3] / "configs"
    if checkout.is_dir():
        found += sorted(checkout.glob("dataset_*.yaml"))
    for root in roots.roots:
        found += sorted(root.glob("*.yaml"))
    return found


def check_recipe(roots: Roots, recipe: str | None) -> Path:
    """A recipe on offer (:func:`recipes`) or a YAML inside the data folders; loaded to check it (one line if bad)."""
    from interanimate.datasets.recipe import load_recipe

    if not recipe:
        raise UserError("choose a recipe")
    offered = {str(p) for p in recipes(roots)}
    path = Path(recipe).resolve() if recipe in offered else roots.resolve(recipe, "recipe")
    if not path.is_file() or path.suffix not in (".yaml", ".yml"):
        raise UserError(f"recipe {recipe}: not a .yaml file")
    load_recipe(path)
    return path


def env_for_child() -> dict:
    env = dict(os.environ)
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.setdefault("TRANSFORMERS_OFFLINE", "1")
    return env
