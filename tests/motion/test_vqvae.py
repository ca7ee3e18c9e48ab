import pytest
import torch

from interanimate.motion.vqvae import PartyVQVAE, VQVAEConfig, vqvae_loss


def tiny(party, **kw):
    return PartyVQVAE(VQVAEConfig(party, width=16, code_dim=8, codebook_size=16, depth=1, **kw))


@pytest.mark.parametrize("party", ["hand", "face"])
def test_round_trip_shapes(party):
    torch.manual_seed(0)
    vq = tiny(party)
    spec = vq.spec
    x = torch.randn(3, 16, spec.num_points, spec.channels)
    out = vq(x)
    assert out["recon"].shape == x.shape
    assert out["indices"].shape == (3, spec.num_parts, 16 // vq.config.stride)
    idx = vq.eval().encode(x)
    assert idx.shape == (3, spec.num_parts, 4) and idx.dtype == torch.long
    assert vq.decode(idx).shape == x.shape


def test_frames_must_be_a_multiple_of_the_stride():
    vq = tiny("hand")
    with pytest.raises(ValueError, match="multiple"):
        vq(torch.randn(1, 10, 42, 5))


def test_codebook_is_used_and_dead_codes_are_reset():
    torch.manual_seed(0)
    vq = tiny("face", dead_code_threshold=0.5)
    opt = torch.optim.Adam(vq.parameters(), lr=1e-3)
    x = torch.randn(8, 16, 68, 6)
    vq.quantizer.codebook.data[:] = 100.0  # all codes far away: without resets only one would ever be used
    for _ in range(15):
        terms = vqvae_loss(vq(x), x, vq.spec)
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    vq.eval()
    used = torch.unique(vq.encode(x)).numel()
    assert used >= 8, f"only {used} of 16 codes used"
    assert float(terms["perplexity"]) > 4


def test_training_reduces_reconstruction_loss():
    torch.manual_seed(0)
    vq = tiny("hand")
    opt = torch.optim.Adam(vq.parameters(), lr=3e-3)
    t = torch.linspace(0, 1, 8)[None, :, None, None]
    x = (torch.sin(3 * t + torch.randn(1, 1, 42, 5)) * torch.randn(1, 1, 42, 5)).repeat(4, 1, 1, 1)  # one smooth motion
    first = None
    for _ in range(60):
        terms = vqvae_loss(vq(x), x, vq.spec)
        first = first if first is not None else float(terms["rec"])
        opt.zero_grad()
        terms["loss"].backward()
        opt.step()
    assert float(terms["rec"]) < first


def test_deformation_weight_adds_the_squared_error_of_the_deformation_channels():
    torch.manual_seed(0)
    vq = tiny("face")
    x = torch.randn(2, 16, 68, 6)
    out = vq(x)
    plain = vqvae_loss(out, x, vq.spec)
    weighted = vqvae_loss(out, x, vq.spec, deformation_weight=3.0)
    by_hand = ((out["recon"][..., 4:6] - x[..., 4:6]) ** 2).mean()
    assert vq.spec.deformation_channels == [4, 5]
    assert torch.allclose(weighted["deform"], by_hand)
    assert torch.allclose(weighted["loss"], plain["loss"] + 3.0 * by_hand)
    # the term's gradient reaches the reconstruction only through the deformation channels
    recon = out["recon"].detach().requires_grad_(True)
    extra = vqvae_loss(out | {"recon": recon}, x, vq.spec, deformation_weight=1.0)["loss"] \
        - vqvae_loss(out | {"recon": recon}, x, vq.spec)["loss"]
    extra.backward()
    assert recon.grad[..., :4].abs().max() < 1e-6 and recon.grad[..., 4:].abs().max() > 0


def test_hands_have_no_deformation_term():
    vq = tiny("hand")
    x = torch.randn(2, 16, 42, 5)
    assert "deform" not in vqvae_loss(vq(x), x, vq.spec, deformation_weight=5.0)
