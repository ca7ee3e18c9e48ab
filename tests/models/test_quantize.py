import torch
import torch.nn.functional as F

from interanimate.models import soft_assignment, soft_quantize


def _data(seed=0, n=(3, 5), k=12, d=8):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*n, d, generator=g), torch.randn(k, d, generator=g) * 3.0


def test_assignment_rows_sum_to_one_and_match_fused_form():
    hidden, latents = _data()
    a = soft_assignment(hidden, latents, tau=0.1)  # (3, 5, K)
    assert a.shape == (3, 5, 12) and (a >= 0).all()
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 5))
    torch.testing.assert_close(soft_quantize(hidden, latents, 0.1), a @ latents, rtol=1e-5, atol=1e-5)


def test_assignment_follows_the_stated_distance_formula():
    hidden, latents = _data(1)
    h, l = F.normalize(hidden, dim=-1), F.normalize(latents, dim=-1)
    dist = ((h[..., None, :] - l) ** 2).sum(-1)  # (3, 5, K), computed the slow way
    torch.testing.assert_close(soft_assignment(hidden, latents, 0.3), torch.softmax(-dist / 0.3, -1))


def test_small_tau_is_hard_nearest_latent_lookup():
    hidden, latents = _data(2)
    nearest = torch.cdist(F.normalize(hidden, dim=-1).reshape(-1, 8), F.normalize(latents, dim=-1)).argmin(-1)
    expected = latents[nearest].reshape(3, 5, 8)  # un-normalised latents
    torch.testing.assert_close(soft_quantize(hidden, latents, tau=1e-4), expected, rtol=1e-5, atol=1e-5)


def test_gradients_reach_hidden_and_latents():
    hidden, latents = _data(3)
    hidden.requires_grad_(True)
    latents.requires_grad_(True)
    soft_quantize(hidden, latents, 0.5).square().sum().backward()
    assert hidden.grad is not None and hidden.grad.abs().sum() > 0
    assert latents.grad is not None and latents.grad.abs().sum() > 0


def test_bad_shapes_and_tau_raise():
    hidden, latents = _data()
    for args in ((hidden, latents[:, :4], 0.1), (hidden, latents, 0.0)):
        try:
            soft_quantize(*args)
        except ValueError:
            continue
        raise AssertionError(f"no error for {args[1].shape}, tau={args[2]}")
