"""The job list of a dataset, written before any clip is made: one row per clip, every choice already taken.

Identities get their split first (identity-disjoint by construction, deterministic from the recipe seed); each class's
clips then get splits by the largest deficit, so that every class is spread over the splits in the recipe's
proportions (and the whole set, when classes have few clips), and within a split over that split's identities. A clip's id is a hash of the fields that define it
(the recipe's content hash, its index and its own choices), so it is stable across machines, engines and reruns.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from interanimate.datasets.recipe import DatasetRecipe
from interanimate.errors import UserError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Identity:
    name: str  # "synthhf-00012" or "portrait-<file stem>"
    kind: str  # synthhf | portrait
    index: int  # SynthHF held-out identity index, or the portrait's position in the folder
    path: str = ""  # portrait file, relative to identities.folder


@dataclass(frozen=True)
class PlanRow:
    index: int
    clip_id: str
    class_code: str
    identity: str
    identity_kind: str
    identity_index: int
    portrait: str  # "" for SynthHF identities
    split: str
    clip_of_class: int  # j: this clip is the class's j-th
    motion_source: str
    motion_seed: int
    prompt: str  # the text prompt (motion.prompts text), else ""
    pose_file: str  # motion.source poses: the file, relative to motion.poses_dir
    seed: int  # the diffusion sampler's seed

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Plan:
    recipe_hash: str
    rows: list[PlanRow]
    identities: list[Identity]
    splits: dict[str, str]  # identity name -> split
    excluded: list[dict]  # portraits left out at plan time: {"file", "reason"}


# ------------------------------------------------------------------------------------------ hashing
def stable_hash(obj, length: int = 16) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:length]


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def folder_sha256(folder: str | Path) -> str:
    """One hash of every weight and config file of a model folder (names and bytes)."""
    folder = Path(folder)
    entries = [(p.relative_to(folder).as_posix(), file_sha256(p)) for p in sorted(folder.rglob("*"))
               if p.is_file() and p.suffix in (".safetensors", ".json")]
    return stable_hash(entries, 64)


def _seed(*parts) -> int:
    return int(stable_hash(list(parts), 15), 16)  # < 2^60


# ------------------------------------------------------------------------------------------ identities
def list_portraits(folder: Path) -> list[str]:
    """Image files in the portrait folder (not recursive), sorted; anything else there is an error."""
    if not folder.is_dir():
        raise UserError(f"identities.folder {folder}: no such folder")
    files = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    others = [p.name for p in files if p.is_dir() or p.suffix.lower() not in IMAGE_SUFFIXES]
    if others:
        raise UserError(f"identities.folder {folder}: holds {others[0]!r}, which is not a "
                        f"{'/'.join(s[1:] for s in IMAGE_SUFFIXES)} image (one portrait per identity)")
    return [p.name for p in files]


def check_portraits(folder: Path, names: list[str], backend) -> tuple[list[str], list[dict]]:
    """Each portrait must decode as an image (else a UserError) and show a face (else it is left out); one too large
    to decode (``utils.media.MAX_IMAGE_PIXELS``) is left out without being decoded."""
    from interanimate.annotate.backends import check_pose
    from interanimate.pipelines.retarget import has_face
    from interanimate.utils.media import TooLarge, read_image

    kept, excluded = [], []
    for name in names:
        try:
            image = read_image(folder / name)
        except TooLarge as err:  # left out and listed, the folder goes on
            excluded.append({"file": name, "reason": str(err).replace(f"{folder / name}: ", "")})
            continue
        except (OSError, ValueError) as err:
            raise UserError(f"identities.folder: {folder / name} is not a readable image ({err})") from None
        _, scores = check_pose(*backend(image), backend="portrait check")
        if has_face(scores):
            kept.append(name)
        else:
            excluded.append({"file": name, "reason": "no face found by the pose backend"})
    return kept, excluded


def assign_splits(names: list[str], recipe: DatasetRecipe) -> dict[str, str]:
    """Identity -> split: a seeded order, cut by the split fractions (largest remainder; each split with a fraction
    above zero gets an identity when there are enough)."""
    order = sorted(names, key=lambda n: stable_hash([recipe.seed, "split", n]))
    fractions = {"train": recipe.splits.train, "val": recipe.splits.val, "test": recipe.splits.test}
    counts = _largest_remainder(len(order), fractions)
    splits, start = {}, 0
    for split in SPLITS:
        for name in order[start:start + counts[split]]:
            splits[name] = split
        start += counts[split]
    return splits


def _largest_remainder(n: int, fractions: dict[str, float]) -> dict[str, int]:
    shares = {k: n * f for k, f in fractions.items()}
    counts = {k: int(np.floor(v)) for k, v in shares.items()}
    for k in sorted(shares, key=lambda k: (-(shares[k] - counts[k]), SPLITS.index(k)))[: n - sum(counts.values())]:
        counts[k] += 1
    if n >= sum(f > 0 for f in fractions.values()):  # no wanted split left empty
        for k in SPLITS:
            if fractions[k] > 0 and counts[k] == 0:
                donor = max(counts, key=lambda d: counts[d])
                counts[donor] -= 1
                counts[k] += 1
    return counts


def split_sequence(fractions: dict[str, float], counts: dict[str, int]) -> dict[str, list[str]]:
    """The split of every clip: class -> [split of its clip 0, 1, …].

    Clips are taken in turn over the classes (clip 0 of every class, then clip 1, …); each goes to the split with the
    largest deficit, counted both within its class and over the whole set, so that every class is spread over the
    splits in proportion when it has enough clips, and the set as a whole is when the classes have few (18 classes
    × 2 clips at 0.8/0.1/0.1 still give val and test clips)."""
    taken = {s: 0 for s in SPLITS}
    taken_class = {code: {s: 0 for s in SPLITS} for code in counts}
    result: dict[str, list[str]] = {code: [] for code in counts}
    position = 0
    for j in range(max(counts.values(), default=0)):
        for code, count in counts.items():
            if j >= count:
                continue
            position += 1

            def deficit(s: str) -> float:
                return fractions[s] * (j + 1) - taken_class[code][s] + fractions[s] * position - taken[s]

            split = max((s for s in SPLITS if fractions[s] > 0), key=lambda s: (deficit(s), -SPLITS.index(s)))
            taken[split] += 1
            taken_class[code][split] += 1
            result[code].append(split)
    return result


# ------------------------------------------------------------------------------------------ the plan
def recipe_hash(recipe: DatasetRecipe, model_sha256: str, motion_sha256: str) -> str:
    """What makes the set's content: the recipe (less its outputs' on/off switches) and the weights used."""
    content = recipe.to_dict()
    content.pop("outputs")
    content.pop("name")
    return stable_hash({"recipe": content, "model": model_sha256, "motion": motion_sha256}, 32)


def make_plan(recipe: DatasetRecipe, model_sha256: str, motion_sha256: str, portrait_backend=None) -> Plan:
    """Every clip of the recipe, in a fixed order (class by class). ``portrait_backend`` checks portraits for a
    face (needed when the recipe names a portrait folder)."""
    from interanimate.motion.text import class_prompts
    from interanimate.taxonomy import BY_CODE

    identities = [Identity(f"synthhf-{i:05d}", "synthhf", i) for i in range(recipe.identities.synthhf)]
    excluded: list[dict] = []
    if recipe.identities.folder is not None:
        folder = Path(recipe.identities.folder)
        names = list_portraits(folder)
        kept, excluded = check_portraits(folder, names, portrait_backend)
        identities += [Identity(f"portrait-{Path(n).stem}", "portrait", i, n) for i, n in enumerate(kept)]
        if len({i.name for i in identities}) != len(identities):
            raise UserError(f"identities.folder {folder}: two portraits share a file stem")
    if not identities:
        raise UserError("no usable identity: every portrait was left out (no face) and identities.synthhf is 0")
    splits = assign_splits([i.name for i in identities], recipe)
    by_split = {s: [i for i in identities if splits[i.name] == s] for s in SPLITS}
    fractions = {s: (getattr(recipe.splits, s) if by_split[s] else 0.0) for s in SPLITS}
    total = sum(fractions.values())
    fractions = {s: f / total for s, f in fractions.items()}

    pose_files = _pose_files(recipe) if recipe.motion.source == "poses" else {}
    rhash = recipe_hash(recipe, model_sha256, motion_sha256)
    rows: list[PlanRow] = []
    counts = recipe.clips_by_class()
    sequences = split_sequence(fractions, counts)
    for code, count in counts.items():
        if recipe.motion.source == "poses" and not pose_files.get(code):
            raise UserError(f"motion.poses_dir: no pose file of class {code} (each file's class_code names its class)")
        sequence = sequences[code]
        offset = int(stable_hash([recipe.seed, "offset", code], 8), 16)
        per_split = {s: sorted(by_split[s], key=lambda i: stable_hash([recipe.seed, code, i.name])) for s in SPLITS}
        used = {s: 0 for s in SPLITS}
        prompts = class_prompts(BY_CODE[code])
        for j in range(count):
            split = sequence[j]
            pool = per_split[split]
            identity = pool[(used[split] + offset) % len(pool)]
            used[split] += 1
            fields = {
                "class_code": code, "identity": identity.name, "identity_kind": identity.kind,
                "identity_index": identity.index, "portrait": identity.path, "split": split, "clip_of_class": j,
                "motion_source": recipe.motion.source, "motion_seed": _seed(recipe.seed, "motion", code, j),
                "prompt": prompts[j % len(prompts)] if recipe.motion.prompts == "text" else "",
                "pose_file": pose_files[code][j % len(pose_files[code])] if pose_files else "",
                "seed": _seed(recipe.seed, "sampler", code, j),
            }
            index = len(rows)
            rows.append(PlanRow(index=index, clip_id=f"{code}-{stable_hash([rhash, index, fields], 12)}", **fields))
    return Plan(rhash, rows, identities, splits, excluded)


def _pose_files(recipe: DatasetRecipe) -> dict[str, list[str]]:
    """POSES.npz files of motion.poses_dir by the class each names."""
    from interanimate.motion.export import load_poses

    folder = Path(recipe.motion.poses_dir)
    if not folder.is_dir():
        raise UserError(f"motion.poses_dir {folder}: no such folder")
    by_class: dict[str, list[str]] = {}
    for path in sorted(folder.glob("*.npz")):
        code = load_poses(path, option="motion.poses_dir").get("class_code", "")
        if code:
            by_class.setdefault(code, []).append(path.name)
    return by_class


# ------------------------------------------------------------------------------------------ sharding
def shard_rows(rows: list[PlanRow], shard: tuple[int, int], batch_size: int = 1) -> list[PlanRow]:
    """The rows of shard ``(I, N)``: those whose plan batch (index // ``batch_size``) % N == I — whole batches, so a
    clip shares its model call with the same rows in any shard layout."""
    index, count = shard
    return [row for row in rows if (row.index // batch_size) % count == index]


def plan_batches(rows: list[PlanRow], batch_size: int) -> list[list[PlanRow]]:
    """``rows`` (plan order) in the batches the plan fixes: rows whose plan index // ``batch_size`` agree share a
    model call."""
    batches: dict[int, list[PlanRow]] = {}
    for row in rows:
        batches.setdefault(row.index // batch_size, []).append(row)
    return list(batches.values())


def batches_to_make(rows: list[PlanRow], todo: list[PlanRow],
                    batch_size: int) -> list[tuple[list[PlanRow], list[str]]]:
    """The work of a run: each plan batch of ``rows`` (a shard's) that holds a row of ``todo``, whole — a clip's bytes
    can depend on its batch-mates (the model's kernels differ by batch size), so a resumed run makes the same batch
    again — with the clip ids of it to write."""
    wanted = {row.clip_id for row in todo}
    work = []
    for batch in plan_batches(rows, batch_size):
        write = [row.clip_id for row in batch if row.clip_id in wanted]
        if write:
            work.append((batch, write))
    return work
