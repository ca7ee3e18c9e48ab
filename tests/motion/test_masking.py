import math

import torch

from interanimate.motion.masking import MaskingConfig, cosine_schedule, mask_tokens, num_masked


def test_cosine_schedule_endpoints_and_monotone():
    r = torch.linspace(0, 1, 11)
    g = cosine_schedule(r)
    assert float(g[0]) == 1.0 and abs(float(g[-1])) < 1e-6
    assert (g[1:] <= g[:-1]).all()
    assert float(cosine_schedule(0.5)) == math.cos(math.pi / 4) or abs(float(cosine_schedule(0.5)) - math.cos(math.pi / 4)) < 1e-6


def test_num_masked_bounds():
    n = num_masked(torch.tensor([0.0, 0.5, 1.0]), 100)
    assert n.tolist() == [100, math.ceil(100 * math.cos(math.pi / 4)), 1]


def _tokens(b=64):
    g = torch.Generator().manual_seed(0)
    return torch.randint(0, 10, (b, 3, 4), generator=g), torch.randint(0, 12, (b, 2, 4), generator=g)


def test_masked_positions_get_mask_id_or_random_codes():
    hand, face = _tokens()
    g = torch.Generator().manual_seed(1)
    hin, fin, hm, fm = mask_tokens(hand, face, 10, 12, MaskingConfig(one_party_prob=0.0, random_token_prob=0.0), g)
    assert (hin[hm] == 10).all() and (fin[fm] == 12).all()
    assert (hin[~hm] == hand[~hm]).all() and (fin[~fm] == face[~fm]).all()
    assert ((hm.flatten(1).sum(1) + fm.flatten(1).sum(1)) >= 1).all()


def test_one_party_full_masking():
    hand, face = _tokens(256)
    g = torch.Generator().manual_seed(2)
    _, _, hm, fm = mask_tokens(hand, face, 10, 12, MaskingConfig(one_party_prob=1.0, random_token_prob=0.0), g)
    h_all, f_all = hm.flatten(1).all(1), fm.flatten(1).all(1)
    h_none, f_none = (~hm).flatten(1).all(1), (~fm).flatten(1).all(1)
    assert ((h_all & f_none) | (f_all & h_none)).all()
    assert 0.3 < h_all.float().mean() < 0.7  # either party, about half the time each


def test_bert_corruption_rate():
    hand, face = _tokens(512)
    g = torch.Generator().manual_seed(3)
    hin, _, hm, _ = mask_tokens(hand, face, 10, 12, MaskingConfig(one_party_prob=0.0, random_token_prob=0.3), g)
    share_random = (hin[hm] != 10).float().mean()
    assert 0.25 < share_random < 0.35
    assert (hin[hm] <= 10).all()
