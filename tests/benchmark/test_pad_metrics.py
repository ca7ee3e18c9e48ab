"""ISO/IEC 30107-3 figures on score lists worked out by hand (score >= threshold: classified as attack)."""

import math

import pytest

from interanimate.benchmark import pad_metrics as m

BONA = [0.1, 0.2, 0.3, 0.4]
SPECIES = {"A": [0.35, 0.5, 0.6, 0.7], "B": [0.05, 0.8, 0.9, 0.95]}


def test_apcer_bpcer_at_a_threshold():
    # threshold 0.45: A has 0.35 below (1 of 4 accepted as bona fide), B has 0.05 below (1 of 4); no bona fide >= 0.45
    assert m.apcer(SPECIES["A"], 0.45) == 0.25
    assert m.apcer(SPECIES["B"], 0.45) == 0.25
    assert m.bpcer(BONA, 0.45) == 0.0
    # threshold 0.3: bona fide 0.3 and 0.4 are >= 0.3 -> 2 of 4 rejected
    assert m.bpcer(BONA, 0.3) == 0.5
    assert m.apcer(SPECIES["A"], 0.3) == 0.0


def test_the_worst_species_decides():
    # threshold 0.55: A accepts 0.35, 0.5 (2/4), B accepts 0.05 (1/4): the system's APCER is A's 0.5
    rate, name = m.worst_apcer(SPECIES, 0.55)
    assert (rate, name) == (0.5, "A")
    figures = m.pad_figures(BONA, SPECIES, threshold=0.55)
    assert figures["apcer"] == {"A": 0.5, "B": 0.25}
    assert figures["apcer_worst"] == 0.5 and figures["apcer_worst_species"] == "A"


def test_bpcer_at_a_fixed_apcer():
    # APCER <= 25 % per species: each may have floor(0.25·4) = 1 score below the threshold, so the threshold is at most
    # each species' 2nd smallest score: min(0.5, 0.8) = 0.5; BPCER there: no bona fide >= 0.5 -> 0
    assert m.threshold_at_apcer(SPECIES, 0.25) == 0.5
    assert m.bpcer_at_apcer(BONA, SPECIES, 0.25) == 0.0
    # APCER <= 1 %: no attack may pass -> threshold = min over species of the smallest score = 0.05; every bona fide
    # score is >= 0.05 -> BPCER 1
    assert m.threshold_at_apcer(SPECIES, 0.01) == 0.05
    assert m.bpcer_at_apcer(BONA, SPECIES, 0.01) == 1.0
    # APCER <= 100 %: any threshold, +inf rejects no bona fide
    assert m.threshold_at_apcer(SPECIES, 1.0) == math.inf
    assert m.bpcer_at_apcer(BONA, SPECIES, 1.0) == 0.0


def test_eer():
    # one species A: at threshold 0.4, APCER = 1/4 (0.35) and BPCER = 1/4 (0.4) -> EER 0.25
    e, t = m.eer(BONA, {"A": SPECIES["A"]})
    assert e == pytest.approx(0.25) and t == pytest.approx(0.4)
    # perfectly separated scores: EER 0
    e, _ = m.eer([0.1, 0.2], {"A": [0.8, 0.9]})
    assert e == 0.0


def test_det_points_are_monotone():
    points = m.det_points(BONA, SPECIES)
    apcers = [a for _, a, _ in points]
    bpcers = [b for _, _, b in points]
    assert apcers == sorted(apcers) and bpcers == sorted(bpcers, reverse=True)


def test_bootstrap_over_identities():
    # every identity has the same accuracy: the interval collapses onto it
    lo, hi = m.bootstrap_interval({"p1": [1, 0], "p2": [0, 1], "p3": [1, 0]}, lambda v: sum(v) / len(v), 200)
    assert lo == hi == 0.5
    # one person always right, one always wrong: the interval spans both extremes
    lo, hi = m.bootstrap_interval({"p1": [1, 1], "p2": [0, 0]}, lambda v: sum(v) / len(v), 500)
    assert lo == 0.0 and hi == 1.0
    assert all(math.isnan(v) for v in m.bootstrap_interval({}, len, 10))
