"""Training of the motion generator, driven by a typed config loaded from YAML (``configs/motion_*.yaml``).

Stages, each a function: ``train_vqvae`` (per party), ``train_transformer`` (collaborative masked modelling with
class/text dropout for classifier-free guidance and an optional step-unrolled second pass), ``train_evaluator``
(18-way recognition on the train split). ``run`` chains them and saves the bundle (``MotionModel.save``).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from interanimate.errors import UserError
from interanimate.motion.data import MotionDataConfig, MotionDataset
from interanimate.motion.evaluator import EvaluatorConfig, MotionEvaluator
from interanimate.motion.masking import MaskingConfig, mask_tokens
from interanimate.motion.model import MotionModel
from interanimate.motion.representation import NULL_CLASS
from interanimate.motion.sampling import SamplingConfig, sample_tokens
from interanimate.motion.transformer import TransformerConfig
from interanimate.motion.vqvae import PartyVQVAE, VQVAEConfig, vqvae_loss
from interanimate.utils.io import write_text_atomic


@dataclass
class VQTrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 2e-4
    commit_weight: float = 0.02
    velocity_weight: float = 1.0
    bone_weight: float = 1.0
    deformation_weight: float = 0.0  # squared error on the face's deformation channels (see vqvae_loss)


@dataclass
class TransformerTrainConfig:
    steps: int = 3000
    batch_size: int = 64
    lr: float = 3e-4
    warmup: int = 200
    weight_decay: float = 0.01
    cond_drop: float = 0.1  # share of samples trained with the null condition (for guidance)
    text_prob: float = 0.5  # share of samples that also get a prompt embedding of their class
    unroll_weight: float = 0.0  # weight of the step-unrolled second pass (0 = off)
    text_bank: str = ""  # .npy of precomputed prompt embeddings (18, P, 384); empty = compute with MiniLM
    masking: MaskingConfig = field(default_factory=MaskingConfig)


@dataclass
class EvaluatorTrainConfig:
    steps: int = 1500
    batch_size: int = 64
    lr: float = 1e-3


@dataclass
class EvaluationConfig:
    samples_per_class: int = 16
    runs: int = 5  # repeated runs for the 95% intervals
    pairs: int = 300  # random pairs for diversity
    mm_pairs: int = 10  # random pairs per class for multimodality


@dataclass
class MotionTrainConfig:
    data: MotionDataConfig = field(default_factory=MotionDataConfig)
    hand_vq: VQVAEConfig = field(default_factory=lambda: VQVAEConfig(party="hand"))
    face_vq: VQVAEConfig = field(default_factory=lambda: VQVAEConfig(party="face"))
    transformer: TransformerConfig = field(default_factory=TransformerConfig)
    evaluator: EvaluatorConfig = field(default_factory=EvaluatorConfig)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    vq_train: VQTrainConfig = field(default_factory=VQTrainConfig)
    transformer_train: TransformerTrainConfig = field(default_factory=TransformerTrainConfig)
    evaluator_train: EvaluatorTrainConfig = field(default_factory=EvaluatorTrainConfig)
    evaluation: EvaluationConfig = field(default_factory=EvaluationConfig)
    output: str = "runs/motion"
    seed: int = 0
    threads: int = 2
    device: str = "cpu"
    log_every: int = 100

    def __post_init__(self):
        if self.hand_vq.party != "hand" or self.face_vq.party != "face":
            raise ValueError("hand_vq.party must be 'hand' and face_vq.party 'face'")
        self.transformer.hand_codebook = self.hand_vq.codebook_size  # the transformer's vocabularies follow the VQs
        self.transformer.face_codebook = self.face_vq.codebook_size


# ---- YAML -> typed config ---------------------------------------------------------------------------------------
def load_config(path: str | Path, overrides: dict | list[str] | None = None) -> MotionTrainConfig:
    """A motion run config through the package's one loader (``base:``, ``--set``-style overrides, unknown key =
    one line). ``overrides``: ``{"data.root": value}`` (values used as given) or ``["key.path=yaml value", ...]``."""
    from interanimate.config import build, load_typed_config, read_yaml_with_base, set_dotted

    if not isinstance(overrides, dict):
        return load_typed_config(path, MotionTrainConfig, list(overrides or ()))
    data = read_yaml_with_base(Path(path))
    for dotted, value in overrides.items():  # "data.root": "/tmp/x"
        set_dotted(data, dotted, value)
    return build(MotionTrainConfig, data)


# ---- helpers ----------------------------------------------------------------------------------------------------
def _batches(dataset, batch_size: int, seed: int):
    """Endless shuffled batches."""
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield from DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=len(dataset) > batch_size,
                              generator=gen, num_workers=0)


def _schedule(optimizer, steps: int, warmup: int):
    lam = lambda s: min(1.0, (s + 1) / max(1, warmup)) * 0.5 * (1 + math.cos(math.pi * min(s, steps) / steps))  # noqa
    return torch.optim.lr_scheduler.LambdaLR(optimizer, lam)


def _log(log, msg: str):
    if log:
        log(msg)


# ---- stages -----------------------------------------------------------------------------------------------------
def train_vqvae(vq: PartyVQVAE, dataset: MotionDataset, cfg: VQTrainConfig, seed: int = 0, device: str = "cpu",
                log=print, log_every: int = 100) -> dict:
    vq.train().to(device)
    opt = torch.optim.AdamW(vq.parameters(), lr=cfg.lr, weight_decay=0.0)
    sched = _schedule(opt, cfg.steps, warmup=min(100, cfg.steps // 10 + 1))
    key = vq.spec.name
    batches = _batches(dataset, cfg.batch_size, seed)
    terms = {}
    for step in range(cfg.steps):
        x = next(batches)[key].to(device)
        terms = vqvae_loss(vq(x), x, vq.spec, cfg.commit_weight, cfg.velocity_weight, cfg.bone_weight,
                           cfg.deformation_weight)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(vq.parameters(), 1.0)
        opt.step()
        sched.step()
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            _log(log, f"vq[{key}] {step:5d} " + " ".join(f"{k}={float(v.detach()):.4f}" for k, v in terms.items()))
    vq.eval()
    return {k: float(v.detach()) for k, v in terms.items()}


def transformer_loss(model: MotionModel, hand, face, labels, cfg: TransformerTrainConfig, text_bank=None,
                     generator: torch.Generator | None = None) -> dict:
    """One masked-modelling loss on a batch of features (B, T, J, C) with class labels (B,)."""
    tr = model.transformer
    hand_tok, face_tok = model.tokenize(hand, face)
    b, device = labels.shape[0], labels.device
    drop = torch.rand(b, generator=generator) < cfg.cond_drop
    cls = torch.where(drop.to(device), torch.full_like(labels, NULL_CLASS), labels)
    text = None
    if text_bank is not None and cfg.text_prob > 0:
        pick = torch.randint(0, text_bank.shape[1], (b,), generator=generator)
        text = text_bank[labels.cpu(), pick].to(device)  # (B, 384)
        use = (torch.rand(b, generator=generator) < cfg.text_prob) & ~drop
        text = text * use[:, None].to(device)
    hin, fin, hm, fm = mask_tokens(hand_tok, face_tok, tr.config.hand_codebook, tr.config.face_codebook,
                                   cfg.masking, generator)
    lh, lf = tr(hin, fin, cls, text)
    loss = (F.cross_entropy(lh[hm], hand_tok[hm], reduction="sum")
            + F.cross_entropy(lf[fm], face_tok[fm], reduction="sum")) / (hm.sum() + fm.sum()).clamp(min=1)
    with torch.no_grad():
        acc = ((lh.argmax(-1) == hand_tok)[hm].float().sum() + (lf.argmax(-1) == face_tok)[fm].float().sum()) \
            / (hm.sum() + fm.sum()).clamp(min=1)
    out = {"ce": loss.detach(), "acc": acc}
    if cfg.unroll_weight > 0:  # step-unrolled pass: fill masked positions with own samples, re-mask, predict truth
        with torch.no_grad():
            ph, _ = sample_tokens(lh.detach(), 1.0, 0.0, generator)  # no top-k filtering
            pf, _ = sample_tokens(lf.detach(), 1.0, 0.0, generator)
            filled_h, filled_f = torch.where(hm, ph, hand_tok), torch.where(fm, pf, face_tok)
        hin2, fin2, hm2, fm2 = mask_tokens(filled_h, filled_f, tr.config.hand_codebook, tr.config.face_codebook,
                                           cfg.masking, generator)
        lh2, lf2 = tr(hin2, fin2, cls, text)
        w2h, w2f = hm2 | hm, fm2 | fm  # predict the truth wherever the first pass had to guess
        loss2 = (F.cross_entropy(lh2[w2h], hand_tok[w2h], reduction="sum")
                 + F.cross_entropy(lf2[w2f], face_tok[w2f], reduction="sum")) / (w2h.sum() + w2f.sum()).clamp(min=1)
        loss = loss + cfg.unroll_weight * loss2
        out["ce2"] = loss2.detach()
    out["loss"] = loss
    return out


def train_transformer(model: MotionModel, dataset: MotionDataset, cfg: TransformerTrainConfig, text_bank=None,
                      seed: int = 0, device: str = "cpu", log=print, log_every: int = 100) -> dict:
    model.to(device)
    model.hand_vq.eval(), model.face_vq.eval()
    tr = model.transformer.train()
    decay = [p for n, p in tr.named_parameters() if p.ndim >= 2 and "embed" not in n]
    no_decay = [p for n, p in tr.named_parameters() if not (p.ndim >= 2 and "embed" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.99))
    sched = _schedule(opt, cfg.steps, cfg.warmup)
    batches = _batches(dataset, cfg.batch_size, seed)
    generator = torch.Generator().manual_seed(seed)
    terms = {}
    for step in range(cfg.steps):
        batch = next(batches)
        terms = transformer_loss(model, batch["hand"].to(device), batch["face"].to(device),
                                 batch["class_index"].to(device), cfg, text_bank, generator)
        opt.zero_grad(set_to_none=True)
        terms["loss"].backward()
        torch.nn.utils.clip_grad_norm_(tr.parameters(), 1.0)
        opt.step()
        sched.step()
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            _log(log, f"transformer {step:5d} " + " ".join(f"{k}={float(v.detach()):.4f}" for k, v in terms.items()))
    tr.eval()
    return {k: float(v.detach()) for k, v in terms.items()}


def train_evaluator(evaluator: MotionEvaluator, dataset: MotionDataset, cfg: EvaluatorTrainConfig, seed: int = 0,
                    device: str = "cpu", log=print, log_every: int = 100) -> dict:
    evaluator.train().to(device)
    opt = torch.optim.AdamW(evaluator.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = _schedule(opt, cfg.steps, warmup=min(100, cfg.steps // 10 + 1))
    batches = _batches(dataset, cfg.batch_size, seed)
    loss = acc = torch.zeros(())
    for step in range(cfg.steps):
        batch = next(batches)
        logits = evaluator(batch["hand"].to(device), batch["face"].to(device))
        labels = batch["class_index"].to(device)
        loss = F.cross_entropy(logits, labels)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        acc = (logits.argmax(-1) == labels).float().mean()
        if log_every and (step % log_every == 0 or step == cfg.steps - 1):
            _log(log, f"evaluator {step:5d} loss={float(loss.detach()):.4f} acc={float(acc):.3f}")
    evaluator.eval()
    return {"loss": float(loss.detach()), "acc": float(acc)}


def text_bank_for_training() -> torch.Tensor:
    """(18, P, 384) MiniLM embeddings of each class's training prompts (cycled to the longest list)."""
    from interanimate.motion.text import class_prompts, default_encoder
    from interanimate.taxonomy import CLASSES

    prompts = [class_prompts(c) for c in CLASSES]
    longest = max(len(p) for p in prompts)
    prompts = [[p[i % len(p)] for i in range(longest)] for p in prompts]
    emb = default_encoder()([s for p in prompts for s in p])
    return torch.from_numpy(emb).view(len(CLASSES), longest, -1)


def build_model(cfg: MotionTrainConfig) -> MotionModel:
    return MotionModel(cfg.hand_vq, cfg.face_vq, cfg.transformer, cfg.evaluator, frames=cfg.data.frames,
                       sampling=cfg.sampling)


STAGES = ("vq", "transformer", "evaluator")
PARTIAL_DIR = ".stages"  # under cfg.output: the bundle after each finished stage, until the run is done


def _fingerprint(cfg: MotionTrainConfig, stages: tuple[str, ...], init: str | None) -> str:
    import dataclasses
    import hashlib

    text = json.dumps({"config": dataclasses.asdict(cfg), "stages": list(stages), "init": init}, sort_keys=True,
                      default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _stage_seed(seed: int, stage: str, dataset: MotionDataset) -> None:
    """Every stage starts from its own seeded state (the global generators and the dataset's random windows): a run
    resumed after a stage trains the rest as an uninterrupted one does."""
    offset = STAGES.index(stage) + 1
    torch.manual_seed(seed * 1000 + offset)
    np.random.seed(seed * 1000 + offset)
    dataset.rng = np.random.default_rng([seed, offset])


def _continued(partial: Path, fingerprint: str, log) -> tuple[MotionModel | None, dict]:
    """The bundle a killed run saved after its last finished stage, if it was this run (same config, stages, init);
    ({} when there is none, or another run's, which is removed)."""
    import shutil

    if not partial.is_dir():
        return None, {}
    try:
        info = json.loads((partial / "config.json").read_text(encoding="utf-8")).get("info", {})
        if info.get("fingerprint") != fingerprint:
            raise ValueError("another run's")
        model = MotionModel.load(partial)
    except (OSError, ValueError, UserError) as err:
        _log(log, f"ignoring {partial} ({err}); training every stage")
        shutil.rmtree(partial)
        return None, {}
    _log(log, f"continuing the run: stage(s) {', '.join(info['done'])} already trained ({partial})")
    return model, info


def run(cfg: MotionTrainConfig, stages: tuple[str, ...] = STAGES, log=print,
        init: str | None = None) -> MotionModel:
    """Train the stages named (in order), save the bundle under ``cfg.output``; returns the model.

    Resumable by stage: after each stage the bundle so far is saved under ``cfg.output/.stages``; the same command
    after a kill (or a machine fault) loads it and trains only the stages left (each stage seeds itself, so the result
    is the uninterrupted run's)."""
    import shutil

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    if not cfg.data.root:
        raise UserError("data.root is empty: give the dataset root in the config or with --data")
    train_set = MotionDataset(cfg.data.root, "train", cfg.data, random_windows=True, seed=cfg.seed)
    _log(log, f"motion data: {len(train_set)} train clips from {cfg.data.root}")
    out = Path(cfg.output)
    partial, fingerprint = out / PARTIAL_DIR, _fingerprint(cfg, stages, init)
    model, info = _continued(partial, fingerprint, log)
    done = list(info.get("done", []))
    timings, results = dict(info.get("timings", {})), dict(info.get("results", {}))
    if model is None:
        torch.manual_seed(cfg.seed)
        np.random.seed(cfg.seed)
        model = MotionModel.load(init) if init else build_model(cfg)

    def finished(stage: str) -> None:
        done.append(stage)
        model.save(partial, extra={"fingerprint": fingerprint, "done": done, "timings": timings,
                                   "results": results})

    if "vq" in stages and "vq" not in done:
        _stage_seed(cfg.seed, "vq", train_set)
        for name, vq in (("hand", model.hand_vq), ("face", model.face_vq)):
            t0 = time.time()
            results[f"vq_{name}"] = train_vqvae(vq, train_set, cfg.vq_train, cfg.seed, cfg.device, log, cfg.log_every)
            timings[f"vq_{name}_s"] = time.time() - t0
        finished("vq")
    if "transformer" in stages and "transformer" not in done:
        _stage_seed(cfg.seed, "transformer", train_set)
        t0 = time.time()
        bank = None
        if cfg.transformer_train.text_prob > 0:
            bank = (torch.from_numpy(np.load(cfg.transformer_train.text_bank)) if cfg.transformer_train.text_bank
                    else text_bank_for_training())
        results["transformer"] = train_transformer(model, train_set, cfg.transformer_train, bank, cfg.seed,
                                                   cfg.device, log, cfg.log_every)
        timings["transformer_s"] = time.time() - t0
        finished("transformer")
    if "evaluator" in stages and "evaluator" not in done:
        _stage_seed(cfg.seed, "evaluator", train_set)
        model.evaluator = MotionEvaluator(cfg.evaluator)  # always fresh: it must know only this train split
        t0 = time.time()
        results["evaluator"] = train_evaluator(model.evaluator, train_set, cfg.evaluator_train, cfg.seed, cfg.device,
                                               log, cfg.log_every)
        timings["evaluator_s"] = time.time() - t0
    model.cpu().eval()
    model.save(out, extra={"timings": timings, "final": results, "data_root": str(cfg.data.root)})
    write_text_atomic(out / "train_summary.json", json.dumps({"timings": timings, "final": results}, indent=2) + "\n")
    shutil.rmtree(partial, ignore_errors=True)
    _log(log, f"saved motion model to {out} ({timings})")
    return model
