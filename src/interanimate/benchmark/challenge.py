"""Challenge verification ("cover your left eye" — is that what the video shows?) and the Classification Accuracy Score.

The classifier (benchmark.video_net) sees only pixels. Three arms, each scored on the **held-out identities of the real
set** (its val/test split), which must share no identity with any training clip:

* ``generated``: trained on the generated sets' ``train`` splits — the CAS (Ravuri & Vinyals 2019: train on
  generated, test on real);
* ``real``: trained on as many clips of the real set's ``train`` split — the larger of the two training parts is
  drawn down to the smaller's count (per class in proportion, by seed), so the two arms differ only in the source;
* ``real+generated``: both of the above together.

Each arm reports top-1 with a 95 % bootstrap interval over test identities, top-1 per class and per factor (the
predicted class has the right hand, face region, category), and its confusion matrix.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interanimate.benchmark.pad_metrics import bootstrap_interval
from interanimate.benchmark.sets import BenchClip, ClipSet, check_disjoint, check_labelled
from interanimate.benchmark.video_net import TrainOptions
from interanimate.errors import DataError

ARMS = ("generated", "real", "real+generated")
FACTORS = ("hand", "region", "category")


@dataclass(frozen=True)
class ChallengeOptions:
    train: TrainOptions = field(default_factory=TrainOptions)
    frames: int = 16
    size: int = 32
    bootstrap: int = 1000
    arms: tuple[str, ...] = ARMS


@dataclass
class ChallengeInputs:
    classes: list[str]
    arms: dict[str, list[BenchClip]]  # training clips per arm
    test: list[BenchClip]


def plan_challenge(generated: list[ClipSet], real: ClipSet, options: ChallengeOptions) -> ChallengeInputs:
    """Check the sets and fix what each arm trains on (no decoding, no model): raises one-line errors for an unlabelled
    set, a single class, mismatched class lists, an empty split, or a test identity seen in training."""
    for s in generated:
        check_labelled(s, "--generated")
    check_labelled(real, "--real")
    classes = real.classes
    for s in generated:
        if s.classes != classes:
            only_gen = sorted(set(s.classes) - set(classes))
            only_real = sorted(set(classes) - set(s.classes))
            raise DataError(f"--generated {s.root} and --real {real.root} have different class lists (only in the "
                            f"generated set: {', '.join(only_gen) or '-'}; only in the real set: "
                            f"{', '.join(only_real) or '-'})")
    gen_train = [c for s in generated for c in s.part(held_out=False)]
    real_train_all, test = real.part(held_out=False), real.part(held_out=True)
    if not test:
        raise DataError(f"--real {real.root}: no held-out (val/test) clips to test on")
    if not gen_train and "generated" in options.arms:
        raise DataError("--generated: no clips in the train split")
    if not real_train_all and set(options.arms) & {"real", "real+generated"}:
        raise DataError(f"--real {real.root}: no train-split clips for the real arms")
    check_disjoint(gen_train + real_train_all, test, "challenge test set")
    if gen_train and real_train_all and set(options.arms) & {"generated", "real"}:  # the same count in both
        n = min(len(gen_train), len(real_train_all))
        gen_train = _same_count(gen_train, n, options.train.seed)
        real_train_all = _same_count(real_train_all, n, options.train.seed)
    arms = {"generated": gen_train, "real": real_train_all, "real+generated": real_train_all + gen_train}
    return ChallengeInputs(classes, {a: arms[a] for a in options.arms}, test)


def _same_count(clips: list[BenchClip], n: int, seed: int) -> list[BenchClip]:
    """``n`` clips drawn without replacement, spread over the classes in proportion (all of them when fewer)."""
    if n >= len(clips):
        return list(clips)
    rng = np.random.default_rng(seed)
    order = [clips[i] for i in rng.permutation(len(clips))]
    by_class: dict[str, list[BenchClip]] = {}
    for c in order:
        by_class.setdefault(c.class_code, []).append(c)
    picked: list[BenchClip] = []
    while len(picked) < n:  # round robin over classes keeps the proportions
        for code in sorted(by_class):
            if by_class[code] and len(picked) < n:
                picked.append(by_class[code].pop())
    return picked


def factor_of(code: str, factor: str) -> str | None:
    """The class's hand / face region / category (interanimate.taxonomy); None for a class code it does not know (a
    user's own labels)."""
    from interanimate.taxonomy import BY_CODE

    return str(getattr(BY_CODE[code], factor)) if code in BY_CODE else None


def score_arm(classes: list[str], test: list[BenchClip], probabilities: np.ndarray, rounds: int, seed: int) -> dict:
    """Top-1 (with a bootstrap interval over test identities), per class, per factor, and the confusion matrix."""
    truth = np.array([classes.index(c.class_code) for c in test])
    pred = probabilities.argmax(axis=1)
    correct = pred == truth
    by_identity: dict[str, list] = {}
    for c, ok in zip(test, correct):
        by_identity.setdefault(c.identity, []).append(bool(ok))
    lo, hi = bootstrap_interval(by_identity, lambda items: float(np.mean(items)), rounds, seed)
    confusion = np.zeros((len(classes), len(classes)), dtype=int)
    for t, p in zip(truth, pred):
        confusion[t, p] += 1
    per_class = {code: float(correct[truth == i].mean()) if (truth == i).any() else None
                 for i, code in enumerate(classes)}
    per_factor = {}
    for factor in FACTORS:  # only where every class is one of the 18 (a user's own labels have no factors)
        known = all(factor_of(code, factor) is not None for code in classes)
        same = [factor_of(classes[t], factor) == factor_of(classes[p], factor) for t, p in zip(truth, pred)]
        per_factor[factor] = float(np.mean(same)) if known else None
    return {"top1": float(correct.mean()), "top1_ci95": [lo, hi], "test_clips": len(test),
            "test_identities": len(by_identity), "per_class": per_class, "per_factor": per_factor,
            "confusion": confusion.tolist(), "chance": 1.0 / len(classes)}


def run_challenge(plan: ChallengeInputs, options: ChallengeOptions, show_progress: bool = True) -> dict:
    """Decode (every clip once, up front), train each arm, score it: the report's content."""
    from interanimate.benchmark.clips import ClipTensors
    from interanimate.benchmark.video_net import predict, train_classifier
    from interanimate.jobs import progress_bar

    classes = plan.classes

    def tensors(clips):
        return ClipTensors(clips, [classes.index(c.class_code) for c in clips], options.frames, options.size)

    datasets = {arm: tensors(clips) for arm, clips in plan.arms.items()}
    test = tensors(plan.test)
    unique = {id(d): d for d in [*datasets.values(), test]}
    with progress_bar(sum(len(d) for d in unique.values()), show_progress, "decoding") as bar:
        for d in unique.values():
            d.preload(bar)
    results = {}
    for arm, data in datasets.items():
        with progress_bar(options.train.epochs, show_progress, f"training {arm}", "epoch") as bar:
            model = train_classifier(data, len(classes), options.train, progress=bar)
        probabilities = predict(model, test, options.train.device)
        train_top1 = float((predict(model, data, options.train.device).argmax(1) == np.array(data.labels)).mean())
        results[arm] = {**score_arm(classes, plan.test, probabilities, options.bootstrap, options.train.seed),
                        "train_clips": len(data), "train_identities": len({c.identity for c in plan.arms[arm]}),
                        "train_top1": train_top1}
    return {"classes": classes, "arms": results}
