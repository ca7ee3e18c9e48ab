"""Presentation-attack detection: bona fide clips against one or more attack sets (each generated set's model, weights
and steps name an attack species), a detector (benchmark.video_net, two outputs) trained on the ``train`` split of
every set and scored on their held-out (val/test) identities, which must not appear in training.

What counts as what: **bona fide** — the clips of ``--bona-fide`` (a SynthHF, ``prepare`` or engine folder whose rows
are not synthetic); **attack** — every clip of an ``--attack`` set, a synthetic video presented (injected) in place of
a live capture. The score is the detector's probability of "attack"; figures per benchmark.pad_metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from interanimate.benchmark.pad_metrics import BOOTSTRAP_KEYS, bootstrap_interval, det_points, pad_figures
from interanimate.benchmark.sets import BONA_FIDE, BenchClip, ClipSet, check_disjoint
from interanimate.benchmark.video_net import TrainOptions
from interanimate.errors import DataError


@dataclass(frozen=True)
class PadOptions:
    train: TrainOptions = field(default_factory=TrainOptions)
    frames: int = 16
    size: int = 48
    bootstrap: int = 1000
    threshold: float = 0.5


@dataclass
class PadInputs:
    train: list[BenchClip]
    test: list[BenchClip]
    species: list[str]


def plan_pad(bona_fide: ClipSet, attacks: list[ClipSet], balance_seed: int | None = 0) -> PadInputs:
    """Check the sets and split them (no decoding, no model); one-line errors for a bona-fide set holding synthetic
    clips, an attack set holding none, an empty split, or a held-out identity seen in training. With
    ``balance_seed`` (not None) the larger kind's training clips are drawn down (by that seed) to the smaller's count:
    a detector trained on 900 bona fide and 150 attack clips learns the prior, and costs six times the CPU."""
    if any(c.species != BONA_FIDE for c in bona_fide.clips):
        raise DataError(f"--bona-fide {bona_fide.root}: holds synthetic clips (a generated set is an --attack)")
    for s in attacks:
        if all(c.species == BONA_FIDE for c in s.clips):
            raise DataError(f"--attack {s.root}: holds no synthetic clip (not a generated set)")
    clips = list(bona_fide.clips) + [c for s in attacks for c in s.clips if c.species != BONA_FIDE]
    train = [c for c in clips if not c.held_out]
    test = [c for c in clips if c.held_out]
    for part, name in ((train, "train"), (test, "held-out (val/test)")):
        kinds = {c.species == BONA_FIDE for c in part}
        if kinds != {True, False}:
            raise DataError(f"the {name} split needs both bona fide and attack clips (has "
                            f"{'only bona fide' if kinds == {True} else 'only attack' if kinds else 'none'})")
    check_disjoint(train, test, "PAD test set")
    if balance_seed is not None:
        train = _balanced(train, balance_seed)
    species = sorted({c.species for c in clips if c.species != BONA_FIDE})
    return PadInputs(train, test, species)


def _balanced(clips: list[BenchClip], seed: int) -> list[BenchClip]:
    bona = [c for c in clips if c.species == BONA_FIDE]
    attack = [c for c in clips if c.species != BONA_FIDE]
    n = min(len(bona), len(attack))
    rng = np.random.default_rng(seed)
    keep = lambda part: [part[i] for i in sorted(rng.choice(len(part), n, replace=False))]  # noqa: E731
    return keep(bona) + keep(attack)


def _figures_from(items: list[tuple[str, float]], threshold: float) -> dict:
    bona = [s for sp, s in items if sp == BONA_FIDE]
    species: dict[str, list[float]] = {}
    for sp, s in items:
        if sp != BONA_FIDE:
            species.setdefault(sp, []).append(s)
    if not bona or not species:
        return {}
    return pad_figures(bona, species, threshold)


def run_pad(plan: PadInputs, options: PadOptions, show_progress: bool = True) -> dict:
    from interanimate.benchmark.clips import ClipTensors
    from interanimate.benchmark.video_net import predict, train_classifier
    from interanimate.jobs import progress_bar

    labels = lambda clips: [int(c.species != BONA_FIDE) for c in clips]  # noqa: E731 — 1 = attack
    train = ClipTensors(plan.train, labels(plan.train), options.frames, options.size)
    test = ClipTensors(plan.test, labels(plan.test), options.frames, options.size)
    with progress_bar(len(train) + len(test), show_progress, "decoding") as bar:
        train.preload(bar)
        test.preload(bar)
    counts = np.bincount(train.labels, minlength=2)
    weights = [len(train.labels) / (2 * max(int(n), 1)) for n in counts]  # balanced classes
    with progress_bar(options.train.epochs, show_progress, "training detector", "epoch") as bar:
        model = train_classifier(train, 2, options.train, class_weights=weights, progress=bar)
    scores = predict(model, test, options.train.device)[:, 1]  # (N,) probability of attack
    items = [(c.species, float(s)) for c, s in zip(plan.test, scores)]
    figures = _figures_from(items, options.threshold)
    by_identity: dict[str, list] = {}
    for c, item in zip(plan.test, items):
        by_identity.setdefault(c.identity, []).append(item)
    intervals = {}
    for key in BOOTSTRAP_KEYS + tuple(("apcer", sp) for sp in plan.species):
        def stat(sample, key=key):
            f = _figures_from(sample, options.threshold)
            return _lookup(f, key) if f else float("nan")
        intervals["/".join(key)] = bootstrap_interval(by_identity, stat, options.bootstrap, options.train.seed)
    bona = [s for sp, s in items if sp == BONA_FIDE]
    species = {sp: [s for k, s in items if k == sp] for sp in plan.species}
    train_scores = predict(model, train, options.train.device)[:, 1]
    counts_of = lambda clips: {  # noqa: E731
        "bona_fide_clips": sum(c.species == BONA_FIDE for c in clips),
        "attack_clips": sum(c.species != BONA_FIDE for c in clips),
        "bona_fide_subjects": len({c.identity for c in clips if c.species == BONA_FIDE}),
        "attack_subjects": len({c.identity for c in clips if c.species != BONA_FIDE}),
        "attack_clips_per_species": {sp: sum(c.species == sp for c in clips) for sp in plan.species}}
    return {"species": plan.species, "figures": figures, "ci95": intervals, "counts": {
        "train": counts_of(plan.train), "test": counts_of(plan.test)},
        "train_accuracy": float(((train_scores >= options.threshold) == np.array(train.labels, bool)).mean()),
        "det": det_points(bona, species), "scores": {"bona_fide": bona, **species}}


def _lookup(figures: dict, key: tuple[str, ...]) -> float:
    value = figures
    for part in key:
        value = value.get(part, float("nan")) if isinstance(value, dict) else float("nan")
    return float(value)
