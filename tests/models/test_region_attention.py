import pytest
import torch

from interanimate.models import IDCrossAttention, InteractionLatents, RegionAttentionBlock

BF, FRAMES, C, HW = 4, 2, 32, 8


def _block(**kw) -> RegionAttentionBlock:
    torch.manual_seed(0)
    block = RegionAttentionBlock(C, latent_dim=24, inner_dim=32, head_dim=16, **kw).eval()
    with torch.no_grad():
        block.proj_out.weight.normal_()  # trained-like: the zero-initialised output made non-zero
        block.proj_out.bias.normal_()
    return block


def _mask() -> torch.Tensor:
    mask = torch.zeros(BF, 1, HW, HW)
    mask[:, :, 2:5, 1:6] = 1.0
    mask[1, :, 6:, 6:] = 1.0
    return mask


@pytest.mark.parametrize("options", [{}, dict(use_quantize=False), dict(spatial_self_attention=True)])
def test_region_branch_is_zero_outside_the_mask_whatever_the_input_there(options):
    block, latents, mask = _block(**options), InteractionLatents(10, 12, 24), _mask()
    x = torch.randn(BF, C, HW, HW)
    changed = torch.where(mask.bool(), x, torch.randn_like(x) * 5)  # input changed only outside the mask
    with torch.no_grad():
        out = block(x, latents.spatial, latents.temporal, mask, FRAMES)
        out_changed = block(changed, latents.spatial, latents.temporal, mask, FRAMES)
    outside = ~mask.bool().expand_as(out)
    assert out.shape == x.shape
    assert out[outside].abs().max() == 0 and out_changed[outside].abs().max() == 0
    assert out[~outside].abs().min() > 0  # and it does contribute inside


def test_region_and_id_blocks_add_nothing_at_init():
    block = RegionAttentionBlock(C, latent_dim=24, inner_dim=32, head_dim=16)
    latents = InteractionLatents(10, 12, 24)
    x = torch.randn(BF, C, HW, HW)
    assert block(x, latents.spatial, latents.temporal, torch.ones(BF, 1, HW, HW), FRAMES).abs().max() == 0
    id_block = IDCrossAttention(C, token_dim=20, inner_dim=32, head_dim=16)
    assert id_block(x, torch.randn(BF, 3, 20)).abs().max() == 0


def test_temporal_operator_mixes_frames_and_spatial_operator_does_not():
    """Changing frame 1 changes frame 0's output only through the temporal path (attention over f frames)."""
    block, latents = _block(), InteractionLatents(10, 12, 24)
    ones = torch.ones(BF, 1, HW, HW)
    x = torch.randn(BF, C, HW, HW)
    x2 = x.clone()
    x2[1] += 1.0  # video 0, frame 1
    with torch.no_grad():
        out, out2 = (block(v, latents.spatial, latents.temporal, ones, FRAMES) for v in (x, x2))
        assert (out[0] - out2[0]).abs().max() > 0  # frame 0 of video 0 sees frame 1
        torch.testing.assert_close(out[2:], out2[2:])  # video 1 untouched
        block.mixer.mix_factor.fill_(1e4)  # alpha = 1: spatial operator only
        out, out2 = (block(v, latents.spatial, latents.temporal, ones, FRAMES) for v in (x, x2))
    torch.testing.assert_close(out[0], out2[0])


def test_mixer_starts_as_svds_alpha_blender():
    block = RegionAttentionBlock(C, latent_dim=24, inner_dim=32, head_dim=16)
    assert block.mixer.mix_factor.item() == 0.5
