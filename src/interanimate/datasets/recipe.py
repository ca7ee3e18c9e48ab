"""A dataset recipe (``configs/dataset_*.yaml``): which clips to make, of whom, driven how, with which model.

Loaded through the package's one config loader (:mod:`interanimate.config`): typed, ``base:``, ``--set``, an unknown
key is one line naming it. Everything that decides what a clip looks like is in the recipe, so the recipe's hash
identifies the set and each clip's id is a hash of its own defining fields (see ``plan.py``).
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path

from interanimate.config import ConfigError, load_typed_config, typed_from_dict

MOTION_SOURCES = ("motion-model", "synthhf", "poses")
IDENTITY_SOURCES = ("none", "synthhf", "dlib", "arcface")
PROMPTS = ("class", "text")


@dataclass
class IdentitiesSpec:
    synthhf: int = 20  # procedural SynthHF identities (0: none)
    folder: str | None = None  # the user's portraits: one identity per image (png/jpg), checked for a face at plan time
    pose_backend: str = "mediapipe"  # finds the face of each portrait (plan-time check and retargeting)
    # face: each portrait cropped to the head-and-shoulders square the model's training people fill (as `animate
    # --framing face`); full: the whole portrait, centre-cropped to the output's aspect
    framing: str = "face"


@dataclass
class SplitsSpec:
    """Fractions of the identities in each split; every clip of an identity is in that identity's split."""
    train: float = 0.8
    val: float = 0.1
    test: float = 0.1


@dataclass
class MotionSpec:
    source: str = "motion-model"  # motion-model: generated per clip; synthhf: SynthHF trajectories; poses: a folder
    model: str | None = None  # motion model folder (default: the bundled one)
    prompts: str = "class"  # motion-model: condition on the class code, or on a text prompt of the class (templates)
    poses_dir: str | None = None  # source poses: POSES.npz files; each names its class (class_code) or is skipped
    retarget: bool = True  # move the motion onto each identity's face (as ``animate --retarget auto``)


@dataclass
class GenerationSpec:
    model: str | None = None  # animation pipeline folder (default: the bundled model)
    steps: int = 12
    guidance: float = 1.5
    identity: str = "dlib"  # identity vector for the ID preserver: dlib (what the bundled model is trained on) | none
    #                         | synthhf (SynthHF identities only)
    #                         | arcface (needs arcface_model)
    arcface_model: str | None = None
    size: list[int] | None = None  # [height, width]; None: the model's training size
    torch_threads: int = 1  # per worker; fixed so that every engine computes the same bytes on a CPU
    # where the video model runs (interanimate.pipelines.placement): cpu (default: the same bytes on every machine),
    # cuda, cuda:N or auto; dtype auto|fp32|bf16|fp16 (auto: bf16/fp16 on a GPU, fp32 on the CPU); offload
    # none|model|sequential (GPU only); decode_chunk frames decoded at once. Ray workers given GPUs run on theirs.
    device: str = "cpu"
    dtype: str = "auto"
    offload: str = "none"
    decode_chunk: int = 8
    # clips per model call, in batches the plan fixes (plan index // batch_size); a clip is the same bytes whatever
    # its batch (docs/datasets.md, "Speed")
    batch_size: int = 4


@dataclass
class OutputsSpec:
    mp4: bool = True  # the video (watermarked); always on, kept for explicitness
    poses: bool = True  # the driving keypoints (POSES.npz, the `motion generate` format)
    masks: bool = True  # hand / face masks (npz, uint8 (F, H, W))
    preview: bool = True  # a PNG strip per clip: reference | pose | generated


@dataclass
class DatasetRecipe:
    name: str = "interanimate-synthetic"
    classes: list[str] = field(default_factory=lambda: ["all"])  # class codes, or ["all"]
    class_weights: dict = field(default_factory=dict)  # code -> weight, with total_clips (default: equal)
    clips_per_class: int | None = 2
    total_clips: int | None = None  # instead of clips_per_class: spread over classes by class_weights
    frames: int = 16
    fps: float = 8.0
    seed: int = 0
    identities: IdentitiesSpec = field(default_factory=IdentitiesSpec)
    splits: SplitsSpec = field(default_factory=SplitsSpec)
    motion: MotionSpec = field(default_factory=MotionSpec)
    generation: GenerationSpec = field(default_factory=GenerationSpec)
    outputs: OutputsSpec = field(default_factory=OutputsSpec)

    def __post_init__(self):
        from interanimate.taxonomy import CODES, get_class

        if self.classes == ["all"]:
            self.classes = list(CODES)
        try:
            self.classes = [get_class(c).code for c in self.classes]
        except ValueError as err:
            raise ConfigError(f"classes: {err}") from None
        if not self.classes or len(set(self.classes)) != len(self.classes):
            raise ConfigError(f"classes: give each class once, at least one, got {self.classes}")
        unknown = sorted(set(self.class_weights) - set(self.classes))
        if unknown:
            raise ConfigError(f"class_weights: class(es) not in classes: {', '.join(unknown)}")
        for code, weight in self.class_weights.items():
            if not isinstance(weight, (int, float)) or isinstance(weight, bool) or not math.isfinite(weight) \
                    or weight < 0:
                raise ConfigError(f"class_weights.{code}: expected a number >= 0, got {weight!r}")
        if (self.clips_per_class is None) == (self.total_clips is None):
            raise ConfigError("give exactly one of clips_per_class and total_clips")
        for key in ("clips_per_class", "total_clips"):
            value = getattr(self, key)
            if value is not None and not 1 <= value <= 10_000_000:
                raise ConfigError(f"{key}: must be in [1, 10000000], got {value}")
        if self.class_weights and self.clips_per_class is not None:
            raise ConfigError("class_weights need total_clips (with clips_per_class every class gets that many)")
        if self.class_weights and not sum(self.class_weights.get(c, 0) for c in self.classes) > 0:
            raise ConfigError("class_weights: at least one weight must be > 0")
        if not 2 <= self.frames <= 1024:
            raise ConfigError(f"frames: must be in [2, 1024], got {self.frames}")
        if not (math.isfinite(self.fps) and 0 < self.fps <= 240):
            raise ConfigError(f"fps: must be in (0, 240], got {self.fps}")
        if not 0 <= self.seed < 2 ** 63:
            raise ConfigError(f"seed: must be in [0, 2^63), got {self.seed}")
        ids = self.identities
        if ids.synthhf < 0 or ids.synthhf > 1_000_000:
            raise ConfigError(f"identities.synthhf: must be in [0, 1000000], got {ids.synthhf}")
        if ids.synthhf == 0 and ids.folder is None:
            raise ConfigError("identities: give synthhf > 0, a folder of portraits, or both")
        if ids.framing not in ("face", "full"):
            raise ConfigError(f"identities.framing: face or full, got {ids.framing!r}")
        fractions = (self.splits.train, self.splits.val, self.splits.test)
        if any(not math.isfinite(f) or f < 0 for f in fractions) or abs(sum(fractions) - 1.0) > 1e-6:
            raise ConfigError(f"splits: train, val and test must be >= 0 and sum to 1, got {fractions}")
        _choice("motion.source", self.motion.source, MOTION_SOURCES)
        _choice("motion.prompts", self.motion.prompts, PROMPTS)
        if self.motion.source == "poses" and not self.motion.poses_dir:
            raise ConfigError("motion.poses_dir: needed for motion.source poses")
        gen = self.generation
        _choice("generation.identity", gen.identity, IDENTITY_SOURCES)
        if gen.identity == "arcface" and not gen.arcface_model:
            raise ConfigError("generation.arcface_model: needed for generation.identity arcface")
        if gen.identity == "synthhf" and ids.folder is not None:
            raise ConfigError("generation.identity synthhf: portraits from identities.folder have no SynthHF vector; "
                              "use none, dlib or arcface")
        if not 1 <= gen.steps <= 1000:
            raise ConfigError(f"generation.steps: must be in [1, 1000], got {gen.steps}")
        if not (math.isfinite(gen.guidance) and 0 <= gen.guidance <= 100):
            raise ConfigError(f"generation.guidance: must be in [0, 100], got {gen.guidance}")
        if gen.size is not None and (len(gen.size) != 2 or any(s % 8 or not 16 <= s <= 8192 for s in gen.size)):
            raise ConfigError(f"generation.size: expected [height, width], multiples of 8 in [16, 8192], got "
                              f"{gen.size}")
        if not 1 <= gen.torch_threads <= 256:
            raise ConfigError(f"generation.torch_threads: must be in [1, 256], got {gen.torch_threads}")
        from interanimate.pipelines.placement import DTYPES, OFFLOADS

        if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", str(gen.device)):
            raise ConfigError(f"generation.device: must be auto, cpu, cuda or cuda:N, got {gen.device!r}")
        _choice("generation.dtype", gen.dtype, DTYPES)
        _choice("generation.offload", gen.offload, OFFLOADS)
        if not isinstance(gen.batch_size, int) or not 1 <= gen.batch_size <= 256:
            raise ConfigError(f"generation.batch_size: must be an integer in [1, 256], got {gen.batch_size!r}")
        if not isinstance(gen.decode_chunk, int) or gen.decode_chunk < 1:
            raise ConfigError(f"generation.decode_chunk: must be a positive integer, got {gen.decode_chunk!r}")

    # ---------------------------------------------------------------- derived
    def clips_by_class(self) -> dict[str, int]:
        """How many clips each class gets (largest-remainder rounding of the weights when total_clips is given)."""
        if self.clips_per_class is not None:
            return {code: self.clips_per_class for code in self.classes}
        weights = [float(self.class_weights.get(c, 1.0 if not self.class_weights else 0.0)) for c in self.classes]
        shares = [self.total_clips * w / sum(weights) for w in weights]
        counts = [math.floor(s) for s in shares]
        order = sorted(range(len(shares)), key=lambda i: (-(shares[i] - counts[i]), i))
        for i in order[: self.total_clips - sum(counts)]:
            counts[i] += 1
        return dict(zip(self.classes, counts))

    def to_dict(self) -> dict:
        return asdict(self)


def _choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")


def load_recipe(path: str | Path, overrides: list[str] = ()) -> DatasetRecipe:
    """A recipe file; relative folders in it (portraits, poses, models) are relative to the working directory, as in
    the training configs, and are stored resolved."""
    recipe = load_typed_config(Path(path), DatasetRecipe, overrides)
    for spec, key in ((recipe.identities, "folder"), (recipe.motion, "poses_dir"), (recipe.motion, "model"),
                      (recipe.generation, "model"), (recipe.generation, "arcface_model")):
        value = getattr(spec, key)
        if value is not None and not Path(value).is_absolute():
            setattr(spec, key, str(Path(value).resolve()))
    return recipe


def recipe_from_dict(data: dict) -> DatasetRecipe:
    """The recipe stored in a set's ``recipe.json`` (already resolved)."""
    return typed_from_dict(DatasetRecipe, data)
