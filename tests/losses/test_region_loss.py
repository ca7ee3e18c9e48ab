import torch

from interanimate.losses import edm_loss_weight, region_diffusion_loss, region_weight


def test_region_weight_adds_alpha_per_mask_at_latent_resolution():
    hand = torch.zeros(1, 2, 1, 16, 16)
    hand[..., :8, :8] = 1
    face = torch.zeros(1, 2, 1, 16, 16)
    face[..., :4, :] = 1
    w = region_weight(hand, face, (8, 8), alpha_hand=2.0, alpha_face=0.5)  # (1, 2, 1, 8, 8)
    assert w.shape == (1, 2, 1, 8, 8)
    assert w[0, 0, 0, 0, 0] == 3.5 and w[0, 0, 0, 3, 0] == 3.0 and w[0, 0, 0, 0, 7] == 1.5
    assert w[0, 0, 0, 7, 7] == 1.0
    assert region_weight(None, None, (8, 8)) is None
    torch.testing.assert_close(region_weight(hand, None, (8, 8)), 1 + hand[..., ::2, ::2])  # 2×2 blocks: all or none


def test_loss_equals_hand_computed_weighted_mean():
    g = torch.Generator().manual_seed(0)
    denoised, target = torch.randn(2, 3, 4, 8, 8, generator=g), torch.randn(2, 3, 4, 8, 8, generator=g)
    sigma = torch.tensor([0.5, 2.0])
    hand = (torch.rand(2, 3, 1, 32, 32, generator=g) > 0.5).float()
    loss = region_diffusion_loss(denoised, target, sigma, hand, None, alpha_hand=1.0)
    m = hand.reshape(2, 3, 1, 8, 4, 8, 4).amax(dim=(4, 6))  # 32 -> 8: a cell is set when any of its 4×4 pixels is
    expected = (edm_loss_weight(sigma).reshape(2, 1, 1, 1, 1) * (1 + m) * (denoised - target) ** 2).mean()
    torch.testing.assert_close(loss, expected)
    plain = region_diffusion_loss(denoised, target, sigma)
    torch.testing.assert_close(plain, (edm_loss_weight(sigma).reshape(2, 1, 1, 1, 1) * (denoised - target) ** 2).mean())
