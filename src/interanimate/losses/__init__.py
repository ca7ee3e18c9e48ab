"""InterAnimate's training objective as small pure functions (EDM/v-prediction as SVD uses; flow matching as Wan uses)."""

from interanimate.losses.edm import P_MEAN, P_STD, edm_loss_weight, edm_precondition, sample_sigmas
from interanimate.losses.flow_matching import flow_matching_loss, sample_flow_sigmas, shift_sigmas
from interanimate.losses.orthogonality import interaction_orthogonality_loss, orthogonality_loss
from interanimate.losses.region import region_diffusion_loss, region_weight
from interanimate.losses.training import diffusion_training_loss

__all__ = [
    "P_MEAN", "P_STD", "diffusion_training_loss", "edm_loss_weight", "edm_precondition", "flow_matching_loss",
    "interaction_orthogonality_loss", "orthogonality_loss", "region_diffusion_loss", "region_weight",
    "sample_flow_sigmas", "sample_sigmas", "shift_sigmas",
]
