"""What ``model.unet_overrides`` may change on a UNet loaded from a folder (``model.unet: DIR``, ``model.init_from``)."""

import pytest
import torch

from interanimate.errors import UserError
from interanimate.models import build_unet as build_named
from interanimate.training.build import build_unet, id_embed_dim, unet_config
from interanimate.training.config import ModelConfig


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("unet")
    torch.manual_seed(0)
    build_named("tiny").save_pretrained(folder)
    return folder


def test_the_hand_map_is_added_to_a_loaded_unet_with_zero_weights(saved):
    cfg = ModelConfig(unet=str(saved), unet_overrides={"hand_map_channels": 3, "layers_per_block": 2})
    assert unet_config(cfg)["hand_map_channels"] == 3 and id_embed_dim(cfg) == 16
    unet = build_unet(cfg)
    assert unet.pose_encoder.in_channels == 6
    assert not unet.pose_encoder.convs[0].weight[:, 3:].any()  # the new inputs start at zero
    plain = build_unet(ModelConfig(unet=str(saved)))
    torch.testing.assert_close(unet.pose_encoder.convs[0].weight[:, :3], plain.pose_encoder.convs[0].weight)


def test_an_override_that_would_change_a_loaded_unet_is_refused_in_one_line(saved, tmp_path):
    cfg = ModelConfig(unet=str(saved), unet_overrides={"layers_per_block": 3})
    with pytest.raises(UserError, match=r"\['layers_per_block'\] cannot change a UNet loaded from"):
        build_unet(cfg)
    build_unet(ModelConfig(unet=str(saved), unet_overrides={"hand_map_channels": 3})).save_pretrained(tmp_path)
    with pytest.raises(UserError, match="would remove the hand map"):
        build_unet(ModelConfig(unet=str(tmp_path), unet_overrides={"hand_map_channels": 0}))
    with pytest.raises(ValueError, match="hand_map_channels must be 0 or 3"):
        build_named("tiny", hand_map_channels=2)
