"""Class conditioning really conditions (InterMask's action path did not): a tiny transformer learns class-specific
token maps, and guided sampling reproduces them."""

import torch
import torch.nn.functional as F

from interanimate.motion.masking import MaskingConfig, mask_tokens
from interanimate.motion.representation import NULL_CLASS
from interanimate.motion.sampling import SamplingConfig, generate_tokens
from interanimate.motion.transformer import CollaborativeTransformer, TransformerConfig


def test_tiny_transformer_learns_class_specific_tokens():
    torch.manual_seed(0)
    tr = CollaborativeTransformer(TransformerConfig(hand_codebook=8, face_codebook=8, dim=32, layers=1, heads=2,
                                                    dropout=0.0))
    targets_h = torch.stack([torch.full((12, 2), k) for k in (1, 5)])  # class 0 -> all 1s, class 1 -> all 5s
    targets_f = torch.stack([torch.full((7, 2), k) for k in (2, 6)])
    opt = torch.optim.Adam(tr.parameters(), lr=3e-3)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        labels = torch.randint(0, 2, (16,), generator=g)
        h, f = targets_h[labels], targets_f[labels]
        cls = torch.where(torch.rand(16, generator=g) < 0.1, torch.full_like(labels, NULL_CLASS), labels)
        hin, fin, hm, fm = mask_tokens(h, f, 8, 8, MaskingConfig(), g)
        lh, lf = tr(hin, fin, cls)
        loss = F.cross_entropy(lh[hm], h[hm]) + F.cross_entropy(lf[fm], f[fm])
        opt.zero_grad()
        loss.backward()
        opt.step()
    tr.eval()
    hand, face = generate_tokens(tr, torch.tensor([0, 1]), 2, SamplingConfig(steps=4, guidance=2.0, temperature=0.5),
                                 generator=torch.Generator().manual_seed(0))
    assert (hand[0] == 1).float().mean() > 0.9 and (hand[1] == 5).float().mean() > 0.9
    assert (face[0] == 2).float().mean() > 0.9 and (face[1] == 6).float().mean() > 0.9
