"""Party-specific VQ-VAE: a motion (T, J, C) becomes a 2D token map (parts × T / 2**down_t).

Per part, a part-specific linear map embeds the part's points (padded to the largest part) into ``width`` channels;
2D convolutions then run over (part, time) with strided temporal downsampling; an EMA codebook with dead-code reset
quantises every (part, time) cell. The decoder mirrors it. Losses: smooth-L1 reconstruction, velocity (differences of
reconstructed positions) and, for hands, bone lengths of visible bones.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from einops import rearrange
from torch import nn

from interanimate.keypoints.layout import HAND_EDGES, NUM_HAND
from interanimate.motion.representation import PARTIES, PartySpec

PARTY_BY_NAME = {p.name: p for p in PARTIES}


@dataclass
class VQVAEConfig:
    party: str = "hand"  # "hand" or "face": picks the PartySpec (points, parts, channels)
    width: int = 128
    code_dim: int = 64
    codebook_size: int = 256
    down_t: int = 2  # temporal stride 2**down_t
    depth: int = 2  # residual blocks per stage
    ema_decay: float = 0.99
    dead_code_threshold: float = 1.0  # codes whose EMA usage count falls below this are reset to encoder outputs

    def __post_init__(self):
        if self.party not in PARTY_BY_NAME:
            raise ValueError(f"party must be one of {sorted(PARTY_BY_NAME)}, got {self.party!r}")
        if self.down_t < 0 or self.codebook_size < 2:
            raise ValueError("down_t must be >= 0 and codebook_size >= 2")

    @property
    def spec(self) -> PartySpec:
        return PARTY_BY_NAME[self.party]

    @property
    def stride(self) -> int:
        return 2 ** self.down_t

    def to_dict(self) -> dict:
        return asdict(self)


class ResBlock2d(nn.Module):
    def __init__(self, width: int, dilation: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=(1, dilation), dilation=(1, dilation))
        self.conv2 = nn.Conv2d(width, width, 1)

    def forward(self, x):  # (B, C, N, T)
        return x + self.conv2(F.silu(self.conv1(F.silu(x))))


class EMAQuantizer(nn.Module):
    """Nearest-code quantiser with an EMA-updated codebook, dead-code reset and a straight-through gradient."""

    def __init__(self, codebook_size: int, code_dim: int, decay: float = 0.99, dead_threshold: float = 1.0,
                 eps: float = 1e-5):
        super().__init__()
        self.codebook_size, self.decay, self.dead_threshold, self.eps = codebook_size, decay, dead_threshold, eps
        self.register_buffer("codebook", torch.randn(codebook_size, code_dim) * 0.1)
        self.register_buffer("ema_count", torch.ones(codebook_size))
        self.register_buffer("ema_sum", self.codebook.clone())
        self.register_buffer("initialised", torch.zeros((), dtype=torch.bool))

    def _sample(self, flat: torch.Tensor, n: int) -> torch.Tensor:
        idx = torch.randint(0, flat.shape[0], (n,), device=flat.device)
        return flat[idx].detach()

    def nearest(self, flat: torch.Tensor) -> torch.Tensor:
        dist = flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t() + self.codebook.pow(2).sum(1)[None]
        return dist.argmin(dim=1)

    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        if not bool(self.initialised):
            self.codebook.copy_(self._sample(flat, self.codebook_size))
            self.ema_sum.copy_(self.codebook)
            self.ema_count.fill_(1.0)
            self.initialised.fill_(True)
            return
        onehot = F.one_hot(idx, self.codebook_size).type(flat.dtype)  # (M, K)
        self.ema_count.mul_(self.decay).add_(onehot.sum(0), alpha=1 - self.decay)
        self.ema_sum.mul_(self.decay).add_(onehot.t() @ flat, alpha=1 - self.decay)
        total = self.ema_count.sum()
        count = (self.ema_count + self.eps) / (total + self.codebook_size * self.eps) * total
        self.codebook.copy_(self.ema_sum / count[:, None])
        dead = self.ema_count < self.dead_threshold
        if dead.any():  # dead-code reset: move unused codes onto current encoder outputs
            fresh = self._sample(flat, int(dead.sum()))
            self.codebook[dead] = fresh
            self.ema_sum[dead] = fresh
            self.ema_count[dead] = 1.0 + self.dead_threshold

    def forward(self, z: torch.Tensor):
        """z (B, D, N, T) -> quantised z (straight-through), indices (B, N, T), commitment loss, perplexity."""
        b, d, n, t = z.shape
        flat = rearrange(z, "b d n t -> (b n t) d")
        if self.training:
            self._ema_update(flat, self.nearest(flat))
        idx = self.nearest(flat)  # (B*N*T,)
        quant = self.codebook[idx]
        commit = F.mse_loss(flat, quant.detach())
        quant = flat + (quant - flat).detach()
        probs = torch.bincount(idx, minlength=self.codebook_size).float() / idx.numel()
        perplexity = torch.exp(-(probs * torch.log(probs + 1e-10)).sum())
        quant = rearrange(quant, "(b n t) d -> b d n t", b=b, n=n, t=t)
        return quant, idx.view(b, n, t), commit, perplexity

    def lookup(self, idx: torch.Tensor) -> torch.Tensor:
        """indices (B, N, T) -> codes (B, D, N, T)."""
        return rearrange(self.codebook[idx], "b n t d -> b d n t")


def _part_tables(spec: PartySpec) -> tuple[torch.Tensor, torch.Tensor]:
    """Gather table (parts, max_part_size) into points (pad = J) and scatter table (J,) into flat part slots."""
    gather = torch.full((spec.num_parts, spec.max_part_size), spec.num_points, dtype=torch.long)
    scatter = torch.empty(spec.num_points, dtype=torch.long)
    for p, (_, idx) in enumerate(spec.parts):
        for s, j in enumerate(idx):
            gather[p, s] = j
            scatter[j] = p * spec.max_part_size + s
    return gather, scatter


class PartyVQVAE(nn.Module):
    def __init__(self, config: VQVAEConfig):
        super().__init__()
        self.config = config
        spec = config.spec
        self.spec = spec
        gather, scatter = _part_tables(spec)
        self.register_buffer("gather_index", gather, persistent=False)
        self.register_buffer("scatter_index", scatter, persistent=False)
        part_in = spec.max_part_size * spec.channels
        w = config.width
        self.part_in = nn.Parameter(torch.randn(spec.num_parts, part_in, w) / part_in ** 0.5)
        self.part_in_bias = nn.Parameter(torch.zeros(spec.num_parts, w))
        enc = []  # downsample first: the residual blocks run at the reduced length (cheap on a CPU)
        for _ in range(config.down_t):
            enc += [nn.Conv2d(w, w, (3, 4), stride=(1, 2), padding=(1, 1))]
            enc += [ResBlock2d(w, 3 ** i) for i in range(config.depth)]
        enc += [nn.SiLU(), nn.Conv2d(w, config.code_dim, 1)]
        self.encoder = nn.Sequential(*enc)
        self.quantizer = EMAQuantizer(config.codebook_size, config.code_dim, config.ema_decay,
                                      config.dead_code_threshold)
        dec = [nn.Conv2d(config.code_dim, w, 1)]
        for _ in range(config.down_t):
            dec += [ResBlock2d(w, 3 ** i) for i in range(config.depth)]
            dec += [nn.Upsample(scale_factor=(1, 2), mode="nearest"), nn.Conv2d(w, w, 3, padding=1)]
        dec += [nn.SiLU(), nn.Conv2d(w, w, 3, padding=1), nn.SiLU()]
        self.decoder = nn.Sequential(*dec)
        self.part_out = nn.Parameter(torch.randn(spec.num_parts, w, part_in) / w ** 0.5 * 0.1)
        self.part_out_bias = nn.Parameter(torch.zeros(spec.num_parts, part_in))

    # ---- shapes -------------------------------------------------------------------------------------------------
    def _to_grid(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) -> (B, W, N, T) with a part-specific linear embedding."""
        pad = torch.zeros_like(x[:, :, :1])
        parts = torch.cat([x, pad], dim=2)[:, :, self.gather_index]  # (B, T, N, P, C)
        parts = rearrange(parts, "b t n p c -> b t n (p c)")
        h = torch.einsum("btni,niw->btnw", parts, self.part_in) + self.part_in_bias
        return rearrange(h, "b t n w -> b w n t")

    def _from_grid(self, h: torch.Tensor) -> torch.Tensor:
        """(B, W, N, T) -> (B, T, J, C)."""
        h = rearrange(h, "b w n t -> b t n w")
        out = torch.einsum("btnw,nwi->btni", h, self.part_out) + self.part_out_bias  # (B, T, N, P*C)
        out = rearrange(out, "b t n (p c) -> b t (n p) c", c=self.spec.channels)
        return out[:, :, self.scatter_index]  # (B, T, J, C)

    def check_frames(self, frames: int) -> None:
        if frames % self.config.stride:
            raise ValueError(f"frames ({frames}) must be a multiple of the temporal stride {self.config.stride}")

    # ---- API ----------------------------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, J, C) features -> token indices (B, N, T / stride)."""
        self.check_frames(x.shape[1])
        z = self.encoder(self._to_grid(x))
        b, d, n, t = z.shape
        idx = self.quantizer.nearest(rearrange(z, "b d n t -> (b n t) d"))
        return idx.view(b, n, t)

    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        """Token indices (B, N, T') -> features (B, T' * stride, J, C)."""
        return self._from_grid(self.decoder(self.quantizer.lookup(idx)))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        self.check_frames(x.shape[1])
        z = self.encoder(self._to_grid(x))  # (B, D, N, T')
        quant, idx, commit, perplexity = self.quantizer(z)
        recon = self._from_grid(self.decoder(quant))  # (B, T, J, C)
        return {"recon": recon, "indices": idx, "commit": commit, "perplexity": perplexity}


def bone_lengths(positions: torch.Tensor) -> torch.Tensor:
    """Hand positions (B, T, 42, 2) -> bone lengths (B, T, 40) of both hands."""
    edges = [(h * NUM_HAND + a, h * NUM_HAND + b) for h in range(2) for a, b in HAND_EDGES]
    a = torch.tensor([e[0] for e in edges], device=positions.device)
    b = torch.tensor([e[1] for e in edges], device=positions.device)
    return (positions[:, :, a] - positions[:, :, b]).norm(dim=-1), a, b


def vqvae_loss(out: dict, target: torch.Tensor, spec: PartySpec, commit_weight: float = 0.02,
               velocity_weight: float = 1.0, bone_weight: float = 1.0,
               deformation_weight: float = 0.0) -> dict[str, torch.Tensor]:
    """Reconstruction (smooth L1) + velocity + commitment (+ bone lengths for hands, + deformation for faces).

    ``deformation_weight``: an extra squared error on the face's deformation channels (dx, dy). They are sparse (only
    points near a contact move), so under the L1-like reconstruction term alone the VQ-VAE learns to output zero there
    and the contact location is lost; the squared error makes the large, localised displacements count.
    """
    recon = out["recon"]
    loss_rec = F.smooth_l1_loss(recon, target, beta=0.05)
    vel_r = recon[:, 1:, :, :2] - recon[:, :-1, :, :2]
    vel_t = target[:, 1:, :, :2] - target[:, :-1, :, :2]
    loss_vel = F.smooth_l1_loss(vel_r, vel_t, beta=0.02)
    loss = loss_rec + velocity_weight * loss_vel + commit_weight * out["commit"]
    terms = {"rec": loss_rec.detach(), "vel": loss_vel.detach(), "commit": out["commit"].detach()}
    if spec.with_visibility and spec.name == "hand" and bone_weight > 0:
        len_r, a, b = bone_lengths(recon[..., :2])
        len_t, _, _ = bone_lengths(target[..., :2])
        vis = (target[:, :, a, 4] > 0.5) & (target[:, :, b, 4] > 0.5)
        loss_bone = ((len_r - len_t).abs() * vis).sum() / vis.sum().clamp(min=1)
        loss = loss + bone_weight * loss_bone
        terms["bone"] = loss_bone.detach()
    if spec.with_deformation and deformation_weight > 0:
        d = spec.deformation_channels
        loss_deform = F.mse_loss(recon[..., d], target[..., d])
        loss = loss + deformation_weight * loss_deform
        terms["deform"] = loss_deform.detach()
    terms["loss"] = loss
    terms["perplexity"] = out["perplexity"].detach()
    return terms
