"""The 18 hand-face interaction classes of InterHF (paper §3), with the choices the paper leaves open.

Sides follow the *subject's* anatomy, as the paper's codes do: "LH" is the subject's left hand, "LC" the subject's
left cheek. In a frontal portrait the subject's left appears on the image's right. Swipe directions ("LR", "RL")
are in image coordinates, as a viewer of the video sees them.

Where the paper is silent we choose, document, and keep it a parameter:

* Which hand pokes a cheek: ``poke_hand="same"`` (default) pokes the left cheek with the left hand; ``"opposite"``
  reaches across. "same" keeps mirror symmetry (LC-* mirrored is RC-*).
* Which hand swipes: LR-FS uses the right hand, RL-FS the left (``SWIPE_HANDS``), so that mirroring an LR-FS video
  gives an RL-FS video.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Hand = Literal["left", "right"]
Category = Literal["pinching", "stroking", "poking", "swiping"]


@dataclass(frozen=True)
class InteractionClass:
    code: str
    index: int
    category: Category
    hand: Hand
    region: str  # face region touched: nose, eyebrow, forehead, chin, ear, cheek, face
    side: Hand | None  # which side of the face (subject's); None for midline regions
    fingers: int  # fingers in contact: 1, 2, 3, or 5 for a palm
    description: str
    mirror: str  # code of the left<->right mirror partner


def _poke_hand(cheek: Hand, poke_hand: str) -> Hand:
    if poke_hand == "same":
        return cheek
    if poke_hand == "opposite":
        return "right" if cheek == "left" else "left"
    raise ValueError(f"poke_hand must be 'same' or 'opposite', got {poke_hand!r}")


SWIPE_HANDS: dict[str, Hand] = {"LR-FS": "right", "RL-FS": "left"}
_REGION_WORDS = {"EB": "eyebrow", "FH": "forehead", "CH": "chin", "ER": "ear"}
_FINGER_CODES = {"SF": 1, "TF": 2, "TH": 3}
_FINGER_WORDS = {1: "one finger", 2: "two fingers", 3: "three fingers"}


def build_classes(poke_hand: str = "same") -> tuple[InteractionClass, ...]:
    """All 18 classes in the paper's order; ``poke_hand`` picks which hand pokes a cheek."""
    classes: list[InteractionClass] = []

    def add(code, category, hand, region, side, fingers, description, mirror):
        classes.append(InteractionClass(code, len(classes), category, hand, region, side, fingers, description, mirror))

    for hand, code, mirror in (("left", "LH-NP", "RH-NP"), ("right", "RH-NP", "LH-NP")):
        add(code, "pinching", hand, "nose", None, 2, f"{hand} hand pinches the nose between thumb and index finger", mirror)
    for hand, prefix, other in (("left", "LH", "RH"), ("right", "RH", "LH")):
        for short, region in _REGION_WORDS.items():
            side = hand if region in ("eyebrow", "ear") else None
            where = f"the {hand} {region}" if side else f"the {region}"
            add(f"{prefix}-{short}", "stroking", hand, region, side, 2 if region != "forehead" else 3,
                f"{hand} hand strokes {where} with the fingertips", f"{other}-{short}")
    for short, fingers in _FINGER_CODES.items():
        for cheek, prefix, other in (("left", "LC", "RC"), ("right", "RC", "LC")):
            hand = _poke_hand(cheek, poke_hand)
            add(f"{prefix}-{short}", "poking", hand, "cheek", cheek, fingers,
                f"{hand} hand pokes the {cheek} cheek with {_FINGER_WORDS[fingers]} at 30-45 degrees", f"{other}-{short}")
    add("LR-FS", "swiping", SWIPE_HANDS["LR-FS"], "face", None, 5,
        "open palm swipes across the face from image left to image right", "RL-FS")
    add("RL-FS", "swiping", SWIPE_HANDS["RL-FS"], "face", None, 5,
        "open palm swipes across the face from image right to image left", "LR-FS")
    return tuple(classes)


CLASSES: tuple[InteractionClass, ...] = build_classes()
CODES: tuple[str, ...] = tuple(c.code for c in CLASSES)
NUM_CLASSES = len(CLASSES)
BY_CODE: dict[str, InteractionClass] = {c.code: c for c in CLASSES}
CATEGORIES: tuple[Category, ...] = ("pinching", "stroking", "poking", "swiping")


def get_class(code: str) -> InteractionClass:
    """Look a class up by code (case-insensitive); a clear ``KeyError``-free ``ValueError`` names the valid codes."""
    key = code.strip().upper()
    if key not in BY_CODE:
        raise ValueError(f"unknown interaction class {code!r}; valid codes: {', '.join(CODES)}")
    return BY_CODE[key]


def class_index(code: str) -> int:
    return get_class(code).index
