"""Presentation-attack detection figures as ISO/IEC 30107-3 defines them, and bootstrap intervals over identities.

Convention: a PAD **score** is higher for "more likely an attack"; a presentation is classified as an attack when its
score is ``>= threshold``.

* **APCER** of one attack species (PAI species): the proportion of that species' attack presentations classified as
  bona fide (score < threshold).
* **APCER of the system** (the standard's worst-case rule, "APCER_AN"): the **highest** APCER over the species — a
  system is as weak as its weakest species.
* **BPCER**: the proportion of bona fide presentations classified as attacks (score >= threshold).
* **BPCER at APCER = x** (e.g. BPCER20 = BPCER at APCER 5 %): the BPCER at the highest threshold whose worst-species
  APCER is at most ``x`` (the highest such threshold gives the lowest BPCER).
* **EER** (development only; the standard does not report it for evaluations): the rate where worst-species APCER
  and BPCER meet, at the threshold where they are closest (their mean there).
"""

from __future__ import annotations

import math

import numpy as np


def apcer(attack_scores, threshold: float) -> float:
    a = np.asarray(attack_scores, dtype=float)
    return float((a < threshold).mean()) if a.size else math.nan


def bpcer(bona_fide_scores, threshold: float) -> float:
    b = np.asarray(bona_fide_scores, dtype=float)
    return float((b >= threshold).mean()) if b.size else math.nan


def worst_apcer(species_scores: dict[str, object], threshold: float) -> tuple[float, str]:
    """(the highest APCER over the species, that species' name)."""
    rates = {name: apcer(scores, threshold) for name, scores in species_scores.items()}
    name = max(rates, key=lambda k: rates[k])
    return rates[name], name


def threshold_at_apcer(species_scores: dict[str, object], target: float) -> float:
    """The highest threshold at which every species' APCER is <= ``target``: for a species of n scores, at most
    floor(target·n) of them may lie below the threshold, so the threshold is at most its (floor(target·n)+1)-th
    smallest score (+inf when all may)."""
    limits = []
    for scores in species_scores.values():
        s = np.sort(np.asarray(scores, dtype=float))
        k = int(math.floor(target * len(s) + 1e-9))
        limits.append(math.inf if k >= len(s) else float(s[k]))
    return min(limits)


def bpcer_at_apcer(bona_fide_scores, species_scores: dict[str, object], target: float) -> float:
    return bpcer(bona_fide_scores, threshold_at_apcer(species_scores, target))


def eer(bona_fide_scores, species_scores: dict[str, object]) -> tuple[float, float]:
    """(EER, its threshold), over every distinct score (and +inf) as a threshold."""
    candidates = np.unique(np.concatenate([np.asarray(bona_fide_scores, dtype=float)]
                                          + [np.asarray(s, dtype=float) for s in species_scores.values()]))
    best = (math.inf, math.nan, math.nan)
    for t in list(candidates) + [math.inf]:
        a, _ = worst_apcer(species_scores, t)
        b = bpcer(bona_fide_scores, t)
        if abs(a - b) < best[0]:
            best = (abs(a - b), (a + b) / 2, t)
    return best[1], best[2]


def det_points(bona_fide_scores, species_scores: dict[str, object]) -> list[tuple[float, float, float]]:
    """(threshold, worst-species APCER, BPCER) at every distinct score: the DET curve."""
    candidates = np.unique(np.concatenate([np.asarray(bona_fide_scores, dtype=float)]
                                          + [np.asarray(s, dtype=float) for s in species_scores.values()]))
    return [(float(t), worst_apcer(species_scores, t)[0], bpcer(bona_fide_scores, t)) for t in candidates]


def pad_figures(bona_fide_scores, species_scores: dict[str, object], threshold: float = 0.5,
                targets: tuple[float, ...] = (0.01, 0.05, 0.10)) -> dict:
    worst, worst_name = worst_apcer(species_scores, threshold)
    e, e_threshold = eer(bona_fide_scores, species_scores)
    return {"threshold": threshold,
            "apcer": {name: apcer(s, threshold) for name, s in species_scores.items()},
            "apcer_worst": worst, "apcer_worst_species": worst_name,
            "bpcer": bpcer(bona_fide_scores, threshold),
            "bpcer_at_apcer": {f"{t:g}": bpcer_at_apcer(bona_fide_scores, species_scores, t) for t in targets},
            "eer": e, "eer_threshold": e_threshold}


# ------------------------------------------------------------------------------ bootstrap over identities
# the figures of pad_figures given an interval, as paths into its dict
BOOTSTRAP_KEYS = (("apcer_worst",), ("bpcer",), ("bpcer_at_apcer", "0.01"), ("bpcer_at_apcer", "0.05"),
                  ("bpcer_at_apcer", "0.1"), ("eer",))


def bootstrap_interval(values_by_identity: dict[str, list], statistic, rounds: int = 1000, seed: int = 0,
                       level: float = 0.95) -> tuple[float, float]:
    """A percentile interval of ``statistic(list of items)`` when the identities (keys) are drawn with replacement,
    each bringing all its items: clips of one person are not independent, people are."""
    if rounds <= 0 or not values_by_identity:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    keys = sorted(values_by_identity)
    stats = []
    for _ in range(rounds):
        drawn = rng.integers(0, len(keys), len(keys))
        items = [v for i in drawn for v in values_by_identity[keys[i]]]
        value = statistic(items)
        if not math.isnan(value):
            stats.append(value)
    if not stats:
        return math.nan, math.nan
    lo, hi = np.quantile(stats, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)
