"""A set as the benchmark reads it: clips with a class, a canonical identity, a held-out flag and an attack species.

Three layouts, each with a ``manifest.jsonl`` at its root (checked in this order):

* a **dataset-engine set** (``interanimate dataset generate``): rows with ``video_path``; ``split`` train / val /
  test (val and test are held out); its clips are synthetic (attack presentations), the species named from the row:
  model name, the first 12 hex digits of its weights' SHA-256, and the sampling steps;
* a **SynthHF folder** (``interanimate synth``) or a **prepared folder** (``interanimate prepare``, a user's own
  annotated videos): :class:`interanimate.data.format.ClipRecord` rows; ``split`` train / test; bona fide.

Identities are compared by a **canonical key**, so that the same person is recognised across layouts: a SynthHF person
is ``synthhf:<seed>:<person index>`` (the dataset engine's ``synthhf-00012`` of a recipe with seed ``s`` is SynthHF
person 100 012 of seed ``s``, :data:`interanimate.data.synth.heldout.HELDOUT_IDENTITY_OFFSET`); a portrait from a
folder is ``portrait:<file stem>``; anything else is ``<source>:<identity>`` as the manifest gives it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from interanimate.errors import DataError, UserError

HELD_OUT_SPLITS = ("val", "test")
BONA_FIDE = "bona fide"


@dataclass(frozen=True)
class BenchClip:
    clip_id: str
    video: Path  # resolved inside the set's root
    class_code: str | None
    identity: str  # canonical key (module docstring)
    held_out: bool  # the set's val/test split
    species: str  # BONA_FIDE for real clips, else the attack species' name


@dataclass(frozen=True)
class ClipSet:
    root: Path
    layout: str  # "dataset" | "synthhf" | "prepared"
    clips: tuple[BenchClip, ...]

    @property
    def name(self) -> str:
        return self.root.name

    def part(self, held_out: bool) -> list[BenchClip]:
        return [c for c in self.clips if c.held_out == held_out]

    @property
    def classes(self) -> list[str]:
        return sorted({c.class_code for c in self.clips if c.class_code})

    @property
    def species(self) -> list[str]:
        return sorted({c.species for c in self.clips})


def _species(row: dict) -> str:
    sha = str(row.get("model_sha256") or "")[:12] or "unknown-weights"
    return f"{row.get('model_name') or 'model'}@{sha}, {row.get('steps', '?')} steps"


def _engine_identity(row: dict, seed: int | None) -> str:
    from interanimate.data.synth.heldout import HELDOUT_IDENTITY_OFFSET

    name = str(row["identity"])
    if row.get("identity_kind") == "synthhf" and name.startswith("synthhf-") and seed is not None:
        return f"synthhf:{seed}:{HELDOUT_IDENTITY_OFFSET + int(name.split('-', 1)[1])}"
    if name.startswith("portrait-"):
        return f"portrait:{name[len('portrait-'):]}"
    return f"dataset:{name}"


def _record_identity(record) -> str:
    if record.source == "synthhf" and record.identity.startswith("synth"):
        seed = record.extra.get("seed") if isinstance(record.extra, dict) else None
        if seed is not None and record.identity[len("synth"):].isdigit():
            return f"synthhf:{int(seed)}:{int(record.identity[len('synth'):])}"
    return f"{record.source}:{record.identity}"


def load_set(root: str | Path, option: str) -> ClipSet:
    """Read the set at ``root`` (named ``option`` in messages); every clip's video must exist inside the root. Raises
    :class:`DataError` (one line) for a folder that is no set, an empty one, or a missing file."""
    from interanimate.data.format import MANIFEST_NAME, read_manifest, resolve_inside
    from interanimate.utils.io import read_jsonl_whole

    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{option} {root}: no such folder")
    root = root.resolve()
    manifest = root / MANIFEST_NAME
    if not manifest.is_file():
        raise DataError(f"{option} {root}: no {MANIFEST_NAME} — not a set made by `interanimate dataset`, "
                        "`synth` or `prepare`")
    try:
        rows = read_jsonl_whole(manifest)
    except (ValueError, OSError) as err:
        raise DataError(f"{option} {root}: {err}") from None
    if not rows:
        raise DataError(f"{option} {root}: the set is empty")
    clips: list[BenchClip] = []
    if all("video_path" in r for r in rows):
        layout = "dataset"
        recipe = root / "recipe.json"
        try:
            seed = int(json.loads(recipe.read_text())["recipe"]["seed"]) if recipe.is_file() else None
        except (ValueError, KeyError, TypeError) as err:
            raise DataError(f"{option} {recipe}: unreadable recipe ({err})") from None
        for r in rows:
            try:
                video = resolve_inside(root, r["video_path"], r["clip_id"])
                clips.append(BenchClip(str(r["clip_id"]), video, r.get("class_code"), _engine_identity(r, seed),
                                       r["split"] in HELD_OUT_SPLITS,
                                       _species(r) if r.get("synthetic", True) else BONA_FIDE))
            except KeyError as err:
                raise DataError(f"{option} {manifest}: a row has no {err.args[0]!r}") from None
    else:
        records = read_manifest(root)
        layout = "synthhf" if all(r.source == "synthhf" for r in records) else "prepared"
        clips = [BenchClip(r.clip_id, resolve_inside(root, r.video, r.clip_id), r.class_code, _record_identity(r),
                           r.split in HELD_OUT_SPLITS, BONA_FIDE) for r in records]
    missing = [c for c in clips if not c.video.is_file()]
    if missing:
        raise DataError(f"{option} {root}: {len(missing)} clip video(s) missing, e.g. {missing[0].video}")
    return ClipSet(root, layout, tuple(clips))


def check_disjoint(train: list[BenchClip], test: list[BenchClip], what: str) -> None:
    """Refuse a test part that shares an identity with the training part (one line naming one of them)."""
    shared = sorted({c.identity for c in train} & {c.identity for c in test})
    if shared:
        raise UserError(f"{what}: {len(shared)} identit{'y' if len(shared) == 1 else 'ies'} in both the training "
                        f"and the test clips (e.g. {shared[0]}); the test must hold only unseen people")


def check_labelled(clip_set: ClipSet, option: str) -> None:
    unlabelled = [c for c in clip_set.clips if not c.class_code]
    if unlabelled:
        raise DataError(f"{option} {clip_set.root}: {len(unlabelled)} clip(s) without a class (e.g. "
                        f"{unlabelled[0].clip_id}); challenge verification needs labelled clips")
    if len(clip_set.classes) < 2:
        raise DataError(f"{option} {clip_set.root}: only one class ({clip_set.classes[0]}); need at least two")
