import pytest
import torch

from interanimate.motion.representation import NULL_CLASS
from interanimate.motion.sampling import (SamplingConfig, generate_tokens, sample_tokens, sampling_distribution,
                                          top_k_filter)
from interanimate.motion.transformer import CollaborativeTransformer, TransformerConfig


def tiny_transformer(seed=0):
    torch.manual_seed(seed)
    tr = CollaborativeTransformer(TransformerConfig(hand_codebook=16, face_codebook=12, dim=32, layers=2, heads=2,
                                                    dropout=0.0)).eval()
    for p in tr.parameters():  # AdaLN-zero starts condition-blind: perturb so that the condition matters
        p.data.add_(torch.randn_like(p) * 0.05)
    return tr


def tokens(tr, b=2, t=3):
    g = torch.Generator().manual_seed(0)
    hand = torch.randint(0, 16, (b, tr.config.hand_parts, t), generator=g)
    face = torch.randint(0, 12, (b, tr.config.face_parts, t), generator=g)
    return hand, face


def test_forward_shapes():
    tr = tiny_transformer()
    hand, face = tokens(tr)
    lh, lf = tr(hand, face, torch.tensor([0, NULL_CLASS]))
    assert lh.shape == (2, 12, 3, 16) and lf.shape == (2, 7, 3, 12)


def test_cfg_scale_one_equals_conditional_logits():
    tr = tiny_transformer()
    hand, face = tokens(tr)
    cls = torch.tensor([3, 7])
    text = torch.randn(2, 384)
    cond = tr(hand, face, cls, text)
    guided = tr.guided_logits(hand, face, cls, text, scale=1.0)
    for a, b in zip(cond, guided):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_cfg_formula_and_condition_matters():
    tr = tiny_transformer()
    hand, face = tokens(tr)
    cls = torch.tensor([3, 7])
    cond = tr(hand, face, cls)
    uncond = tr(hand, face, torch.full_like(cls, NULL_CLASS))
    assert not torch.allclose(cond[0], uncond[0])  # class conditioning reaches the logits
    guided = tr.guided_logits(hand, face, cls, scale=3.0)
    torch.testing.assert_close(guided[0], uncond[0] + 3.0 * (cond[0] - uncond[0]), rtol=1e-4, atol=1e-4)


def test_temperature_changes_the_sampling_distribution():
    logits = torch.tensor([[2.0, 1.0, 0.0, -1.0]])
    cold = sampling_distribution(logits, 0.5, 0.0)  # top_k 0: no filtering (InterMask's reading)
    hot = sampling_distribution(logits, 2.0, 0.0)
    entropy = lambda p: -(p * p.log()).sum()  # noqa: E731
    assert entropy(hot) > entropy(sampling_distribution(logits, 1.0, 0.0)) > entropy(cold)
    g = torch.Generator().manual_seed(0)
    many = logits.expand(4000, 4)
    top_cold = (sample_tokens(many, 0.5, 0.0, g)[0] == 0).float().mean()
    top_hot = (sample_tokens(many, 2.0, 0.0, g)[0] == 0).float().mean()
    assert top_cold > top_hot + 0.2  # empirical frequencies follow the tempered distribution
    assert (sample_tokens(many, 0.0, 0.0, g)[0] == 0).all()  # temperature 0 is greedy


def test_top_k_filter_follows_intermask_and_keeps_the_other_reading_as_an_option():
    logits = torch.tensor([[0.0, 3.0, 1.0, 2.0]])
    kept = top_k_filter(logits, 0.5)  # InterMask: keep int((1 - 0.5)·4) = 2
    assert torch.isinf(kept).tolist() == [[True, False, True, False]]
    assert torch.equal(top_k_filter(logits, 0.0), logits)
    assert torch.isinf(top_k_filter(logits, 0.75)).tolist() == [[True, False, True, True]]  # int(0.25·4) = 1
    assert torch.isinf(top_k_filter(logits, 0.75, "fraction")).tolist() == [[True, False, False, False]]  # 3
    assert torch.equal(top_k_filter(logits, 1.0, "fraction"), logits)
    # InterMask's top_k(logits, thres=0.9) on its 512-entry codebooks keeps the 51 most likely tokens
    from interanimate.motion.sampling import kept_tokens
    assert kept_tokens(512, 0.9) == 51 and kept_tokens(256, 0.9) == 25 and kept_tokens(256, 0.9, "fraction") == 230
    wide = torch.randn(3, 256, generator=torch.Generator().manual_seed(0))
    assert int(torch.isfinite(top_k_filter(wide, 0.9)).sum(dim=-1).max()) == 25


def test_generation_decodes_every_token():
    tr = tiny_transformer()
    g = torch.Generator().manual_seed(0)
    hand, face = generate_tokens(tr, torch.tensor([1, 2]), 4, SamplingConfig(steps=4, guidance=2.0), generator=g)
    assert hand.shape == (2, 12, 4) and face.shape == (2, 7, 4)
    assert (hand < 16).all() and (face < 12).all()


@pytest.mark.parametrize("given", ["hand", "face"])
def test_reaction_generation_keeps_the_given_party_fixed(given):
    tr = tiny_transformer()
    hand0, face0 = tokens(tr, b=2, t=4)
    g = torch.Generator().manual_seed(1)
    kwargs = {"hand_given": hand0} if given == "hand" else {"face_given": face0}
    hand, face = generate_tokens(tr, torch.tensor([0, 5]), 4, SamplingConfig(steps=3), generator=g, **kwargs)
    if given == "hand":
        assert torch.equal(hand, hand0) and (face < 12).all()
    else:
        assert torch.equal(face, face0) and (hand < 16).all()


def test_seeded_generation_is_reproducible():
    tr = tiny_transformer()
    a = generate_tokens(tr, torch.tensor([1]), 2, SamplingConfig(steps=2), generator=torch.Generator().manual_seed(5))
    b = generate_tokens(tr, torch.tensor([1]), 2, SamplingConfig(steps=2), generator=torch.Generator().manual_seed(5))
    assert all(torch.equal(x, y) for x, y in zip(a, b))


def test_bad_sampling_config():
    with pytest.raises(ValueError):
        SamplingConfig(top_k=1.5)
    with pytest.raises(ValueError):
        SamplingConfig(top_k=0.0, top_k_mode="fraction")
    with pytest.raises(ValueError):
        SamplingConfig(top_k_mode="nucleus")


def test_a_generator_per_sample_draws_what_each_sample_draws_alone():
    tr = tiny_transformer()
    cls = torch.tensor([1, 4, 1])
    seeds = (3, 8, 5)
    config = SamplingConfig(steps=4, top_k=0.0)  # every token possible: the seed matters
    together = generate_tokens(tr, cls, 4, config,
                               generator=[torch.Generator().manual_seed(s) for s in seeds])
    for i, seed in enumerate(seeds):
        alone = generate_tokens(tr, cls[i:i + 1], 4, config,
                                generator=torch.Generator().manual_seed(seed))
        assert torch.equal(together[0][i:i + 1], alone[0]) and torch.equal(together[1][i:i + 1], alone[1])
    assert not torch.equal(together[0][0], together[0][2])  # same class, other seed: another motion
    with pytest.raises(ValueError, match="generators"):
        sample_tokens(torch.zeros(2, 3, 5), 1.0, 0.0, [torch.Generator()])
