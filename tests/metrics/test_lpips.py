"""LPIPS-VGG in plain torch: zero for identical images, growing with noise; torchvision-format VGG16 loading."""

import numpy as np
import pytest
import torch

from interanimate.errors import UserError
from interanimate.metrics import lpips
from interanimate.metrics.backbones.vgg import VGG16Features, load_vgg16_features


def noisy(image, sigma, seed=0):
    rng = np.random.default_rng(seed)
    return np.clip(image.astype(np.float64) + rng.normal(0, sigma, image.shape), 0, 255).astype(np.uint8)


@pytest.mark.parametrize("protocol", ["disco", "standard"])
def test_zero_for_identical_and_grows_with_noise(tiny_vgg_file, tiny_lpips_linear_file, astronaut_small, protocol):
    model = lpips.load_lpips(tiny_vgg_file, tiny_lpips_linear_file)
    frames = astronaut_small[None]
    assert lpips.lpips_frames(model, frames, frames, protocol) == [0.0]
    scores = [lpips.lpips_frames(model, noisy(frames, s), frames, protocol)[0] for s in (5, 20, 60)]
    assert 0 < scores[0] < scores[1] < scores[2]


def test_real_linear_layers_fit_full_vgg16(astronaut_small):
    path = lpips.default_linear_weights()
    if path is None:
        pytest.skip("torchmetrics' copy of the LPIPS vgg.pth linear layers is not installed")
    torch.manual_seed(0)
    model = lpips.LPIPS(VGG16Features(), lpips.load_linear_weights(path))  # random full-size VGG16
    frames = astronaut_small[None]
    assert lpips.lpips_frames(model, frames, frames)[0] == 0.0
    assert lpips.lpips_frames(model, noisy(frames, 30), frames)[0] > 0


def test_vgg_loader_keeps_torchvision_indices(tiny_vgg_file):
    model = load_vgg16_features(tiny_vgg_file)
    assert model.taps == (3, 8, 15, 22, 29) and model.widths == (4, 8, 8, 16, 16)
    saved = torch.load(tiny_vgg_file, weights_only=True)
    assert torch.equal(model.features[28].weight, saved["features.28.weight"])


def test_vgg_loader_errors(tmp_path, corrupt_file, tiny_vgg_file):
    with pytest.raises(UserError, match="cannot read .*corrupt.pth"):
        load_vgg16_features(corrupt_file)
    with pytest.raises(UserError, match="no such file"):
        load_vgg16_features(tmp_path / "missing.pth")
    state = torch.load(tiny_vgg_file, weights_only=True)
    del state["features.28.bias"]
    torch.save(state, tmp_path / "broken.pth")
    with pytest.raises(UserError, match="does not match the VGG16 architecture"):
        load_vgg16_features(tmp_path / "broken.pth")
    torch.save({"conv.weight": torch.ones(1)}, tmp_path / "other.pth")
    with pytest.raises(UserError, match="VGG16 has 13"):
        load_vgg16_features(tmp_path / "other.pth")
