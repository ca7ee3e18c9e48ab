"""The evaluation protocol of the motion generator (``interanimate motion evaluate``).

1. Real motions: the evaluator's top-1/top-3 on the test split (held-out identities), and the "real vs real" floor:
   FID and diversity between real test motions and equally many real train motions, over ``runs`` draws.
2. Class-conditioned generation, ``runs`` times with different seeds, ``samples_per_class`` per class: top-1/top-3
   (and per class), FID against the real test motions, diversity, multimodality, left/right correctness.
3. Text prompts that name a side (held-out phrasings): resolved class, left/right correctness, top-1.
4. Reaction: face generated from each real test hand track; ``reaction_error`` of the generated face against the real
   face and against faces generated from a mismatched hand track; and hand generated from each real face track.
Every figure is reported as (mean, 95% half-width) over the runs.
"""

from __future__ import annotations

import numpy as np
import torch

from interanimate.motion.evaluator import (acting_side, diversity, frechet_distance, interval, multimodality,
                                           reaction_error, region_signatures, topk_accuracy)
from interanimate.motion.model import MotionModel
from interanimate.motion.representation import FACE_PARTY, HAND, recompute_velocity
from interanimate.taxonomy import CLASSES, NUM_CLASSES

# Held-out phrasings (not among the training prompts) that name the acting hand's side.
SIDE_PROMPTS = {
    "pinching": "{side}-hand nose pinch", "stroking": "{side} hand gently rubbing the {region}",
    "poking": "{side} hand prods the {cside} cheek, {fingers}", "swiping": "the {side} palm wipes across the face",
}
_FINGERS = {1: "one finger", 2: "two fingers", 3: "three fingers"}


def side_prompt(cls) -> str:
    region = f"{cls.side} {cls.region}" if cls.side and cls.region != "cheek" else cls.region
    return SIDE_PROMPTS[cls.category].format(side=cls.hand, region=region, cside=cls.side,
                                             fingers=_FINGERS.get(cls.fingers, ""))


@torch.no_grad()
def _eval_features(model: MotionModel, hand: torch.Tensor, face: torch.Tensor, batch: int = 256):
    feats, logits = [], []
    device = next(model.evaluator.parameters()).device
    for i in range(0, hand.shape[0], batch):
        f = model.evaluator.features(hand[i:i + batch].to(device), face[i:i + batch].to(device))
        feats.append(f.cpu())
        logits.append(model.evaluator.head(torch.nn.functional.silu(f)).cpu())
    return torch.cat(feats).numpy(), torch.cat(logits).numpy()


def _clean(hand: torch.Tensor, face: torch.Tensor):
    """Decoded features with velocities recomputed from positions (as exported keypoints would give)."""
    return (torch.from_numpy(recompute_velocity(hand.numpy(), HAND)),
            torch.from_numpy(recompute_velocity(face.numpy(), FACE_PARTY)))


def _side_rate(hand: np.ndarray, face: np.ndarray, labels: np.ndarray) -> float:
    hits = [acting_side(h, f) == CLASSES[c].hand for h, f, c in zip(hand, face, labels)]
    return float(np.mean(hits))


def _generate(model, labels, frames, seed, text=None, batch=144, **given):
    hs, fs = [], []
    for i in range(0, len(labels), batch):
        sl = slice(i, i + batch)
        kw = {k: v[sl] for k, v in given.items()}
        h, f = model.generate(torch.as_tensor(labels[sl]), frames=frames, seed=seed * 1000 + i,
                              text=None if text is None else text[sl], **kw)
        hs.append(h.cpu())
        fs.append(f.cpu())
    return _clean(torch.cat(hs), torch.cat(fs))


def evaluate(model: MotionModel, test_set, train_set, samples_per_class: int = 16, runs: int = 5, pairs: int = 300,
             mm_pairs: int = 10, seed: int = 0, text_encoder=None, log=print, reaction_clips: int | None = None) -> dict:
    """``reaction_clips``: evaluate reaction on this many test clips (evenly spread; default all)."""
    if model.evaluator is None:
        raise ValueError("the model has no evaluator: train one (motion train) before evaluating")
    rng = np.random.default_rng(seed)
    frames = test_set.config.frames
    th, tf, tl = test_set.stacked()
    rh, rf, rl = train_set.stacked()
    test_feats, test_logits = _eval_features(model, th, tf)
    train_feats, _ = _eval_features(model, rh, rf)
    report = {"real": {"top1": topk_accuracy(test_logits, tl.numpy(), 1), "top3": topk_accuracy(test_logits, tl.numpy(), 3),
                       "per_class_top1": _per_class(test_logits, tl.numpy()),
                       "left_right": _side_rate(th.numpy(), tf.numpy(), tl.numpy()), "clips": int(len(tl))}}
    n = min(len(test_feats), len(train_feats))
    floor = [frechet_distance(test_feats, train_feats[rng.choice(len(train_feats), n, replace=False)])
             for _ in range(runs)]
    report["real"]["fid_vs_train"] = interval(floor)
    report["real"]["diversity"] = interval([diversity(test_feats, pairs, rng) for _ in range(runs)])
    log(f"real test: top1={report['real']['top1']:.3f} fid_floor={report['real']['fid_vs_train'][0]:.3f}")

    # 1b. the tokenizers' ceiling: real test motions through VQ-VAE encode -> decode
    rec_h, rec_f = _clean(*model.detokenize(*model.tokenize(th, tf)))
    rec_feats, rec_logits = _eval_features(model, rec_h, rec_f)
    report["reconstructed"] = {"top1": topk_accuracy(rec_logits, tl.numpy(), 1),
                               "fid": frechet_distance(rec_feats, test_feats),
                               "left_right": _side_rate(rec_h.numpy(), rec_f.numpy(), tl.numpy()),
                               "hand_position_error": float((rec_h[..., :2] - th[..., :2]).abs().mean()),
                               "face_position_error": float((rec_f[..., :2] - tf[..., :2]).abs().mean())}
    log(f"reconstructed test: top1={report['reconstructed']['top1']:.3f} fid={report['reconstructed']['fid']:.3f}")

    # 2. class-conditioned generation
    labels = np.repeat(np.arange(NUM_CLASSES), samples_per_class)
    per_run = {k: [] for k in ("top1", "top3", "fid", "diversity", "multimodality", "left_right")}
    per_class = []
    for r in range(runs):
        gh, gf = _generate(model, labels, frames, seed + r)
        feats, logits = _eval_features(model, gh, gf)
        per_run["top1"].append(topk_accuracy(logits, labels, 1))
        per_run["top3"].append(topk_accuracy(logits, labels, 3))
        per_run["fid"].append(frechet_distance(feats, test_feats))
        per_run["diversity"].append(diversity(feats, pairs, rng))
        per_run["multimodality"].append(multimodality(feats, labels, mm_pairs, rng))
        per_run["left_right"].append(_side_rate(gh.numpy(), gf.numpy(), labels))
        per_class.append(_per_class(logits, labels))
        log(f"generation run {r}: top1={per_run['top1'][-1]:.3f} fid={per_run['fid'][-1]:.3f} "
            f"lr={per_run['left_right'][-1]:.3f}")
    report["generated"] = {k: interval(v) for k, v in per_run.items()}
    report["generated"]["per_class_top1"] = {c.code: float(np.mean([pc[c.code] for pc in per_class])) for c in CLASSES}

    # 3. text prompts naming a side
    if text_encoder is not None:
        report["text"] = evaluate_text(model, text_encoder, frames, samples_per_class, runs, seed)
        log(f"text: {report['text']['summary']}")

    # 4. reaction
    pick = np.arange(len(tl))
    if reaction_clips and reaction_clips < len(pick):
        pick = np.linspace(0, len(tl) - 1, reaction_clips).round().astype(int)
    signatures = region_signatures(rf.numpy(), rh.numpy(), rl.numpy())
    report["reaction"] = evaluate_reaction(model, th[pick], tf[pick], tl.numpy()[pick], seed, runs, signatures,
                                           reconstructed_face=rec_f[pick])
    log(f"reaction: {report['reaction']['summary']}")
    return report


def _per_class(logits: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    pred = logits.argmax(1)
    return {c.code: float((pred[labels == c.index] == c.index).mean()) for c in CLASSES if (labels == c.index).any()}


def evaluate_text(model, text_encoder, frames, samples_per_class, runs, seed) -> dict:
    from interanimate.motion.text import resolve_class

    prompts = [side_prompt(c) for c in CLASSES]
    emb = text_encoder(prompts)
    class_emb = text_encoder([c.description for c in CLASSES])
    resolved = [resolve_class(p, e, class_emb)[0] for p, e in zip(prompts, emb)]
    labels = np.repeat([c.index for c in resolved], samples_per_class)
    wanted_side = np.repeat([c.hand for c in CLASSES], samples_per_class)
    text = torch.from_numpy(np.repeat(emb, samples_per_class, axis=0))
    side_rates, top1 = [], []
    for r in range(runs):
        gh, gf = _generate(model, labels, frames, seed + 100 + r, text=text)
        sides = np.array([acting_side(h, f) for h, f in zip(gh.numpy(), gf.numpy())])
        side_rates.append(float((sides == wanted_side).mean()))
        _, logits = _eval_features(model, gh, gf)
        top1.append(topk_accuracy(logits, np.repeat(np.arange(NUM_CLASSES), samples_per_class), 1))
    out = {"prompts": dict(zip([c.code for c in CLASSES], prompts)),
           "resolved_correct": float(np.mean([r.code == c.code for r, c in zip(resolved, CLASSES)])),
           "left_right": interval(side_rates), "top1": interval(top1)}
    out["summary"] = (f"resolved {out['resolved_correct']:.3f}, left/right {out['left_right'][0]:.3f}, "
                      f"top1 {out['top1'][0]:.3f}")
    return out


def evaluate_reaction(model, hand, face, labels, seed, runs, signatures=None, reconstructed_face=None) -> dict:
    """Face from real hand tracks (and hand from real face tracks); see ``reaction_error``.

    ``signatures``: ``region_signatures`` of the real train clips (adds ``region_hit``); ``reconstructed_face``: the
    real faces through the face VQ-VAE (the tokenizer's ceiling), measured alongside.
    """
    frames = hand.shape[1]
    keys = ("centroid_to_region", "centroid_to_tip", "deformation")
    keys += ("region_hit",) if signatures is not None else ()

    def rows_of(faces, hands):
        return [reaction_error(f, h, CLASSES[c], signatures=signatures) for f, h, c in zip(faces, hands, labels)]

    def mean_of(rows):
        return {k: float(np.nanmean([row[k] for row in rows])) for k in keys}

    def measure(faces, hands):
        return mean_of(rows_of(faces, hands))

    real = measure(face.numpy(), hand.numpy())
    rng = np.random.default_rng(seed)
    gen_runs, mismatch_runs, hand_side, hand_top1, hits = [], [], [], [], []
    for r in range(runs):
        _, gf = _generate(model, labels, frames, seed + 200 + r, hand=hand)
        rows = rows_of(gf.numpy(), hand.numpy())
        gen_runs.append(mean_of(rows))
        if signatures is not None:
            hits.append(np.array([row["region_hit"] for row in rows]))
        perm = rng.permutation(len(labels))  # faces generated for someone else's hand track
        mismatch_runs.append(measure(gf.numpy()[perm], hand.numpy()))
        gh, _ = _generate(model, labels, frames, seed + 300 + r, face=face)
        hand_side.append(_side_rate(gh.numpy(), face.numpy(), labels))
        _, logits = _eval_features(model, gh, face)
        hand_top1.append(topk_accuracy(logits, labels, 1))
    out = {"real_face": real,
           "generated_face": {k: interval([g[k] for g in gen_runs]) for k in keys},
           "mismatched_face": {k: interval([g[k] for g in mismatch_runs]) for k in keys},
           "hand_from_face_left_right": interval(hand_side), "hand_from_face_top1": interval(hand_top1)}
    if reconstructed_face is not None:
        out["reconstructed_face"] = measure(reconstructed_face.numpy(), hand.numpy())
    if hits:
        hit = np.nanmean(np.stack(hits), 0)  # (clips,) over runs
        out["per_class_region_hit"] = {c.code: float(np.nanmean(hit[labels == i])) for i, c in enumerate(CLASSES)
                                       if (labels == i).any()}
    out["summary"] = (f"centroid_to_region real {real['centroid_to_region']:.3f} / generated "
                      f"{out['generated_face']['centroid_to_region'][0]:.3f} / mismatched "
                      f"{out['mismatched_face']['centroid_to_region'][0]:.3f}; "
                      + (f"region_hit real {real['region_hit']:.3f} / generated "
                         f"{out['generated_face']['region_hit'][0]:.3f} / mismatched "
                         f"{out['mismatched_face']['region_hit'][0]:.3f}; " if signatures is not None else "")
                      + f"hand-from-face left/right "
                      f"{out['hand_from_face_left_right'][0]:.3f}")
    return out


def _pm(value) -> str:
    """A (mean, half-width) pair or a plain number as text."""
    if isinstance(value, (list, tuple)):
        return f"{value[0]:.3f} ± {value[1]:.3f}"
    return f"{value:.3f}"


def report_markdown(report: dict) -> str:
    """The evaluation report as Markdown tables (the figures of ``evaluate``'s dict, nothing recomputed)."""
    real, rec, gen = report["real"], report.get("reconstructed"), report["generated"]
    rows = [("evaluator top-1", _pm(real["top1"]), _pm(rec["top1"]) if rec else "–", _pm(gen["top1"])),
            ("evaluator top-3", _pm(real["top3"]), "–", _pm(gen["top3"])),
            ("FID (evaluator features)", f"floor (real test vs train) {_pm(real['fid_vs_train'])}",
             _pm(rec["fid"]) if rec else "–", _pm(gen["fid"])),
            ("diversity", _pm(real["diversity"]), "–", _pm(gen["diversity"])),
            ("multimodality", "–", "–", _pm(gen["multimodality"])),
            ("left/right (class hand = acting hand)", _pm(real["left_right"]),
             _pm(rec["left_right"]) if rec else "–", _pm(gen["left_right"]))]
    lines = ["| measure | real test | real test through the VQ-VAEs | generated |", "|---|---|---|---|"]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    lines += ["", "| class | real top-1 | generated top-1 |", "|---|---|---|"]
    lines += [f"| {code} | {real['per_class_top1'].get(code, float('nan')):.3f} | {acc:.3f} |"
              for code, acc in gen["per_class_top1"].items()]
    if "text" in report:
        t = report["text"]
        lines += ["", f"Text prompts naming a side: resolved {t['resolved_correct']:.3f}, left/right "
                      f"{_pm(t['left_right'])}, top-1 {_pm(t['top1'])}."]
    r = report["reaction"]
    lines += ["", "| reaction (face from a real hand track; distances in inter-ocular units) | real face | "
                  "real face through the face VQ-VAE | generated face | generated face, another clip's hand (chance) |",
              "|---|---|---|---|---|"]
    for key in ("centroid_to_region", "region_hit", "centroid_to_tip", "deformation"):
        if key in r["real_face"]:
            rec_face = f"{r['reconstructed_face'][key]:.3f}" if "reconstructed_face" in r else "–"
            lines.append(f"| {key} | {r['real_face'][key]:.3f} | {rec_face} | {_pm(r['generated_face'][key])} | "
                         f"{_pm(r['mismatched_face'][key])} |")
    if "per_class_region_hit" in r:
        lines += ["", "Generated face, region hit per class: "
                  + ", ".join(f"{code} {v:.2f}" for code, v in r["per_class_region_hit"].items()) + "."]
    lines += ["", f"Hand from a real face track: left/right {_pm(r['hand_from_face_left_right'])}, top-1 "
                  f"{_pm(r['hand_from_face_top1'])}."]
    return "\n".join(lines) + "\n"
