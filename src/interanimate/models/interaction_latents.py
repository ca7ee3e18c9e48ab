"""The two learnable sets of interaction latents, shared by every region attention block.

L_s (n×d) spatial and L_t (m×d) temporal; n = m = 512 (STATED), d = 1024 (CHOSEN) at full size. Each block owns
its own learned map d -> block width (see ``RegionAttentionBlock``).
"""

from __future__ import annotations

from torch import nn
import torch


class InteractionLatents(nn.Module):
    def __init__(self, n_spatial: int, n_temporal: int, dim: int):
        super().__init__()
        self.spatial = nn.Parameter(torch.empty(n_spatial, dim))  # L_s (n, d)
        self.temporal = nn.Parameter(torch.empty(n_temporal, dim))  # L_t (m, d)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Unit-scale random rows: nearly orthogonal for K << d, which the orthogonality loss then keeps.
        for p in (self.spatial, self.temporal):
            nn.init.normal_(p, std=p.shape[1] ** -0.5)
