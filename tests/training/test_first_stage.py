"""The small model's first stage: the PCA patch autoencoder, the small VAEs and the image encoder."""

import torch

from interanimate.models.first_stage import (PatchPCAAutoencoder, build_small_image_encoder, build_small_vae,
                                             encode_image, load_vae, vae_decode)
from interanimate.training.first_stage import latent_scaling_factor


def _images(n=6, size=32):
    gen = torch.Generator().manual_seed(0)
    base = torch.rand(n, 3, size // 8, size // 8, generator=gen) * 2 - 1
    return torch.nn.functional.interpolate(base, size=(size, size), mode="bilinear")  # smooth images


def test_pca_autoencoder_round_trip_and_save_load(tmp_path):
    x = _images()
    full = PatchPCAAutoencoder(latent_channels=192, sample_size=32).fit(x)
    torch.testing.assert_close(full.decode(full.encode(x).latent_dist.mode()).sample, x, atol=1e-4, rtol=0)
    ae = PatchPCAAutoencoder(latent_channels=16, sample_size=32).fit(x)
    z = ae.encode(x).latent_dist
    assert z.mode().shape == (6, 16, 4, 4) and torch.equal(z.sample(), z.mode())  # deterministic posterior
    basis = ae.basis
    torch.testing.assert_close(basis @ basis.T, torch.eye(16), atol=1e-5, rtol=0)  # orthonormal
    err16 = (vae_decode(ae, z.mode(), 6) - x).square().mean()
    ae4 = PatchPCAAutoencoder(latent_channels=4, sample_size=32).fit(x)
    assert err16 < (ae4.decode(ae4.encode(x).latent_dist.mode()).sample - x).square().mean()
    ae.register_to_config(scaling_factor=latent_scaling_factor(ae, [x]))
    ae.save_pretrained(tmp_path / "vae")
    loaded = load_vae(tmp_path / "vae")
    assert type(loaded) is PatchPCAAutoencoder and loaded.config.scaling_factor == ae.config.scaling_factor
    assert torch.equal(loaded.encode(x).latent_dist.mode(), z.mode())


def test_small_vaes_and_image_encoder_shapes():
    x = _images(2)
    for temporal in (True, False):
        vae = build_small_vae((32, 32, 32, 32), sample_size=32, temporal_decoder=temporal)
        z = vae.encode(x).latent_dist.mode()
        assert z.shape == (2, 4, 4, 4) and vae_decode(vae, z, 2).shape == (2, 3, 32, 32)
    encoder = build_small_image_encoder(24, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                                        image_size=32, patch_size=8)
    assert encode_image(encoder, x).shape == (2, 1, 24)
