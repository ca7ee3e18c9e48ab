import torch

from interanimate.losses import (diffusion_training_loss, edm_precondition, interaction_orthogonality_loss,
                                 sample_sigmas)
from interanimate.models import build_svd_unet, build_unet
from interanimate.models.conditioning import UNetConditions


class _Oracle(torch.nn.Module):
    """Predicts the exact v target: the composed loss must then be zero."""

    def __init__(self, z0, noise, sigma):
        super().__init__()
        self.z0, self.noise, self.sigma = z0, noise, sigma

    def forward(self, sample, timestep, encoder_hidden_states, added_time_ids, return_dict=True, **kw):
        s = self.sigma.reshape(-1, 1, 1, 1, 1)
        c_skip, c_out, c_in, c_noise = edm_precondition(s)
        torch.testing.assert_close(timestep, c_noise.reshape(-1))
        torch.testing.assert_close(sample[:, :, :4], c_in * (self.z0 + s * self.noise))
        x = self.z0 + s * self.noise
        return ((self.z0 - c_skip * x) / c_out,)


def _batch(seed=0, b=2, f=2, h=16, w=16):
    g = torch.Generator().manual_seed(seed)
    return dict(latents=torch.randn(b, f, 4, h, w, generator=g), sigma=sample_sigmas(b, g),
                noise=torch.randn(b, f, 4, h, w, generator=g),
                conditions=UNetConditions(ref_latents=torch.randn(b, 4, h, w, generator=g),
                                          image_embeds=torch.randn(b, 1, 32, generator=g),
                                          time_ids=torch.tensor([[6.0, 127.0, 0.02]] * b)))


def test_oracle_prediction_gives_zero_diffusion_loss():
    batch = _batch()
    oracle = _Oracle(batch["latents"], batch["noise"], batch["sigma"])
    loss, logs = diffusion_training_loss(oracle, **batch)
    assert loss.abs().item() < 1e-8 and logs["loss_orth"].item() == 0


def test_full_step_on_tiny_model_backpropagates_with_masks_and_orthogonality():
    torch.manual_seed(0)
    model = build_unet("tiny").train()
    batch = _batch()
    g = torch.Generator().manual_seed(1)
    hand = (torch.rand(2, 2, 1, 128, 128, generator=g) > 0.5).float()
    batch["conditions"].pose_frames = torch.rand(2, 2, 3, 128, 128) * 2 - 1
    batch["conditions"].hand_mask, batch["conditions"].id_embedding = hand, torch.randn(2, 16)
    loss, logs = diffusion_training_loss(model, **batch, alpha_hand=2.0, orthogonality_weight=0.5)
    torch.testing.assert_close(loss, logs["loss_diff"] + 0.5 * interaction_orthogonality_loss(model))
    loss.backward()
    assert model.interaction_latents.spatial.grad.abs().sum() > 0  # through the orthogonality term
    assert model.conv_in.weight.grad.abs().sum() > 0


def test_plain_svd_unet_works_without_interanimate_inputs():
    torch.manual_seed(0)
    batch = _batch()
    loss, logs = diffusion_training_loss(build_svd_unet("tiny"), **batch)
    assert torch.isfinite(loss) and logs["loss_orth"].item() == 0
