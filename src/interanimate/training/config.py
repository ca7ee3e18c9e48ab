"""Run configuration for ``interanimate train``: typed dataclasses loaded from YAML (with ``base:`` and ``--set``) by
the package's one config loader, :mod:`interanimate.config`, and validated at load time."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path

from interanimate.config import ConfigError, load_typed_config, typed_from_dict  # noqa: F401 (ConfigError re-exported)


@dataclass
class DataConfig:
    root: str = "data/synthhf"
    synth: dict | None = None  # keyword arguments for interanimate.data.synth.write_dataset; None: root must exist
    num_frames: int = 16  # clip length (paper: 16)
    stride: int = 1
    size: list[int] | None = None  # [height, width]; None keeps the stored size
    reference: str = "random"  # paper: a random frame of the whole video
    # the hand/face masks the region block gets: "keypoints" (drawn from the clip's keypoints by the function that
    # draws them at inference; the paper takes both from DWPose keypoints) or "annotation" (the stored masks)
    region_masks: str = "keypoints"
    num_workers: int = 0
    validation_split: str = "test"  # held-out identities for validation previews


@dataclass
class VAEConfig:
    """The first stage. ``pretrained``: a diffusers folder (SVD's ``vae/``); else a small one trained here."""
    pretrained: str | None = None
    block_out_channels: list[int] = field(default_factory=lambda: [32, 64, 128, 128])
    layers_per_block: int = 1
    latent_channels: int = 4
    kind: str = "temporal"  # temporal: AutoencoderKLTemporalDecoder (SVD's class); kl2d: AutoencoderKL;
    #                         pca: PatchPCAAutoencoder (closed-form fit, no training steps)
    pca_clips: int = 200  # clips whose frames the PCA first stage is fitted on
    train_steps: int = 0  # first-stage steps before diffusion training (0: use as is)
    batch_size: int = 8  # clips per step
    num_frames: int = 4  # frames per clip (the decoder is temporal)
    lr: float = 1e-3
    kl_weight: float = 1e-6
    region_weight: float = 4.0  # reconstruction weight is (1 + region_weight * hand∪face mask)


@dataclass
class ImageEncoderConfig:
    """``pretrained``: a diffusers folder (SVD's ``image_encoder/``); else a small CLIP vision tower built here."""
    pretrained: str | None = None
    hidden_size: int = 64
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    image_size: int = 64
    patch_size: int = 8


@dataclass
class WanModelConfig:
    """``model.backbone: wan``: Wan2.2-Animate's transformer with InterAnimate's modules (models/wan.py), trained with
    Wan's flow-matching objective. Every folder is a diffusers one given by the user (nothing is downloaded); without
    one the small random component of this size is built (tests, dry runs)."""
    transformer: str = "wan-animate-tiny"  # named size (interanimate.models.wan_configs) or an InterAnimate Wan folder
    overrides: dict = field(default_factory=dict)  # constructor arguments changed from the named size
    base: str | None = None  # a WanAnimateTransformer3DModel folder (Wan2.2-Animate's transformer/) for the base
    vae: str | None = None  # an AutoencoderKLWan folder (Wan2.2-Animate's vae/); None: a small random one
    vae_base_dim: int = 16  # width of the small random VAE
    image_encoder: str | None = None  # a CLIPVisionModel folder (image_encoder/); None: the small one (model.image_encoder)
    text_encoder: str | None = None  # a UMT5EncoderModel folder (text_encoder/); None: zero text embeddings
    tokenizer: str | None = None  # its tokenizer folder (tokenizer/)
    prompt: str = "a person touches their face with their hand"  # the text condition of every clip
    lora_rank: int = 0  # LoRA on the base's attention projections (0: none); trainable group "lora"
    lora_alpha: float | None = None  # None: = lora_rank
    lora_targets: list[str] = field(default_factory=lambda: ["to_q", "to_k", "to_v", "to_out.0"])
    hand_map: bool = False  # the dense hand shape map drawn into the pose video (the hand-quality work's guidance)
    # what Wan-Animate's face stream sees in training: "reference" (CHOSEN: the portrait's face repeated, what it sees
    # when animating from keypoints or a class) or "clip" (Wan-Animate's: the clip's own face crops, which show the
    # fingers' contact — for users who always drive with a video of the same person's face)
    face_video: str = "reference"
    flow_shift: float = 5.0  # Wan's timestep shift (sigma' = s·sigma / (1 + (s - 1)·sigma)); 480p: 3, 720p: 5
    max_sequence_length: int = 512  # text tokens (Wan's)


@dataclass
class ModelConfig:
    backbone: str = "svd"  # svd: the paper's SVD UNet (``unet`` …); wan: Wan2.2-Animate's DiT (``wan``)
    wan: WanModelConfig = field(default_factory=WanModelConfig)
    unet: str = "tiny"  # named config of interanimate.models (tiny, small, svd-xt) or a folder to load
    unet_overrides: dict = field(default_factory=dict)  # constructor arguments changed from the named config
    svd_unet: str | None = None  # SVD ``unet/`` folder whose weights initialise the base UNet
    # a pipeline folder (what `train` exports, e.g. runs/small/final or the bundled model) to continue from: its
    # unet/, vae/ and image_encoder/ are loaded (strictly) in place of unet, vae.pretrained and
    # image_encoder.pretrained, and its residual_scale is used when residual_scale is not set
    init_from: str | None = None
    vae: VAEConfig = field(default_factory=VAEConfig)
    image_encoder: ImageEncoderConfig = field(default_factory=ImageEncoderConfig)


@dataclass
class LossConfig:
    p_mean: float = 0.7  # log-normal sigma sampling (EDM/SVD)
    p_std: float = 1.6
    alpha_hand: float = 1.0
    alpha_face: float = 1.0
    orthogonality_weight: float = 0.01
    # which masks weight the region loss (α_h, α_f): "annotation" (the stored masks: SynthHF's exact silhouettes,
    # or what `prepare` wrote) or "keypoints" (the ones the region block gets, see data.region_masks)
    weight_masks: str = "annotation"


@dataclass
class ConditioningConfig:
    drop_all: float = 0.1  # probability that a batch trains unconditionally (image, latents and pose all dropped)
    drop_image: float = 0.05  # extra per-sample drop of the image embedding alone
    drop_latents: float = 0.05  # extra per-sample drop of the reference latent alone (Wan backbone: the face video)
    # per-sample drop of the identity vector to zeros, so that "no identity" (a portrait without a detectable face,
    # or `--identity-from none`) is a condition the model was trained on, as StableAnimator feeds zeros then
    drop_identity: float = 0.1
    noise_aug_max: float = 0.1  # reference noise augmentation strength ~ U(0, noise_aug_max)
    fps: int = 7
    motion_bucket_id: int = 127


@dataclass
class OptimConfig:
    name: str = "adamw"  # adamw: torch.optim.AdamW; adamw_8bit: bitsandbytes' AdamW8bit (optional, not a dependency)
    lr: float = 1e-5  # the paper's (STATED); the tiny and small configs set their own
    lr_warmup_steps: int = 0
    # 0: constant after warm-up; N: linear from lr to 0 over the last N of max_steps (an anneal at the end)
    lr_decay_steps: int = 0
    weight_decay: float = 0.0
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    eps: float = 1e-8  # AdamW's epsilon (torch's default)
    grad_clip: float = 1.0
    group_lr: dict = field(default_factory=dict)  # per-group learning rates, e.g. {image_encoder: 3e-4}


@dataclass
class TrainConfig:
    output_dir: str = "runs/tiny"
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    mixed_precision: str = "no"  # no | fp16 | bf16 (CUDA only; CPU runs stay in fp32)
    gradient_checkpointing: bool = False
    # CHOSEN for the CPU-trained small model only (off for the paper's setup): diffuse z − z_ref, the frames' latents
    # minus the clean reference's, so that "copy the reference" is the zero prediction the model starts near; the
    # pipeline adds z_ref back after sampling.
    residual_to_reference: bool = False
    # the residual is divided by this so that it has unit variance, as EDM's preconditioning (sigma_data = 1)
    # assumes; None = measured at start-up: the std of z − z_ref over the first 64 training clips
    residual_scale: float | None = None
    # the exported pipeline's default sampler start (InterAnimatePipeline.hand_prior_strength; the previews use it):
    # 1 from pure noise; below 1 from the rendered hand prior noised that far (a model with the hand map only)
    hand_prior_strength: float = 1.0
    max_steps: int = 100
    time_limit_minutes: float | None = None  # stop early (checkpoint, preview, export) once this much wall time passed
    batch_size: int = 1  # per process
    gradient_accumulation_steps: int = 1
    trainable: list[str] = field(default_factory=lambda: ["unet", "pose_encoder", "interaction_latents",
                                                           "region", "id_preserver"])
    ema_decay: float = 0.999  # 0 disables EMA
    checkpoint_every: int = 500
    checkpoints_keep: int = 2
    log_every: int = 10
    validate_every: int = 0  # 0: only at the end
    validation_samples: int = 2
    validation_steps: int = 10  # sampler steps for previews
    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    conditioning: ConditioningConfig = field(default_factory=ConditioningConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)

    def __post_init__(self):
        _check_choice("device", self.device, ("auto", "cpu", "cuda"))
        _check_choice("mixed_precision", self.mixed_precision, ("no", "fp16", "bf16"))
        _check_choice("data.reference", self.data.reference, ("random", "first"))
        _check_choice("data.region_masks", self.data.region_masks, ("keypoints", "annotation"))
        _check_choice("loss.weight_masks", self.loss.weight_masks, ("annotation", "keypoints"))
        _check_choice("model.vae.kind", self.model.vae.kind, ("temporal", "kl2d", "pca"))
        _check_choice("optim.name", self.optim.name, OPTIMIZERS)
        _check_choice("model.backbone", self.model.backbone, ("svd", "wan"))
        if self.model.backbone == "wan":
            self._check_wan()
        for key in ("max_steps", "batch_size", "gradient_accumulation_steps", "checkpoint_every", "log_every",
                    "validation_steps", "checkpoints_keep"):
            if getattr(self, key) < 1:
                raise ConfigError(f"{key}: must be >= 1, got {getattr(self, key)}")
        if self.data.size is not None and (len(self.data.size) != 2 or any(s % 8 for s in self.data.size)):
            raise ConfigError(f"data.size: expected [height, width], multiples of 8, got {self.data.size}")
        if not 0 <= self.optim.lr_decay_steps <= self.max_steps:
            raise ConfigError(f"optim.lr_decay_steps: must be in [0, max_steps={self.max_steps}], "
                              f"got {self.optim.lr_decay_steps}")
        if not 0.0 < self.hand_prior_strength <= 1.0:
            raise ConfigError(f"hand_prior_strength: must be in (0, 1], got {self.hand_prior_strength}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ConfigError(f"ema_decay: must be in [0, 1), got {self.ema_decay}")
        for key in ("drop_all", "drop_image", "drop_latents", "drop_identity"):
            value = getattr(self.conditioning, key)
            if not 0.0 <= value <= 1.0:
                raise ConfigError(f"conditioning.{key}: must be a probability, got {value}")
        if self.data.synth is not None:
            _check_synth(self.data.synth)
        if self.model.init_from is not None:
            self._apply_init_from()
        groups = WAN_PARAMETER_GROUPS if self.model.backbone == "wan" else PARAMETER_GROUPS
        unknown = sorted(set(self.trainable) - set(groups))
        if unknown:
            raise ConfigError(f"trainable: unknown group(s) {unknown} for model.backbone {self.model.backbone}; "
                              f"known: {sorted(groups)}")
        unknown = sorted(set(self.optim.group_lr) - set(groups))
        if unknown:
            raise ConfigError(f"optim.group_lr: unknown group(s) {unknown}; known: {sorted(groups)}")

    def _check_wan(self) -> None:
        wan = self.model.wan
        if self.data.num_frames % 4 != 1:
            raise ConfigError(f"data.num_frames: Wan's VAE takes 4k + 1 frames (5, 17, 77, 81, …), got "
                              f"{self.data.num_frames}")
        if self.residual_to_reference or self.hand_prior_strength != 1.0:
            raise ConfigError("residual_to_reference and hand_prior_strength are options of the SVD backbone")
        if self.model.init_from or self.model.svd_unet:
            raise ConfigError("model.init_from / model.svd_unet name SVD folders; with model.backbone: wan use "
                              "model.wan.transformer (an InterAnimate Wan folder) or model.wan.base")
        if wan.lora_rank < 0:
            raise ConfigError(f"model.wan.lora_rank: must be >= 0, got {wan.lora_rank}")
        if "lora" in self.trainable and wan.lora_rank == 0:
            raise ConfigError("trainable: lora needs model.wan.lora_rank > 0")
        _check_choice("model.wan.face_video", wan.face_video, ("reference", "clip"))
        if wan.flow_shift <= 0:
            raise ConfigError(f"model.wan.flow_shift: must be > 0, got {wan.flow_shift}")
        if (wan.text_encoder is None) != (wan.tokenizer is None):
            raise ConfigError("model.wan.text_encoder and model.wan.tokenizer are given together")

    def _apply_init_from(self) -> None:
        """``model.init_from`` names the pipeline folder whose components the run starts from."""
        folder = Path(self.model.init_from)
        named = {"model.svd_unet": self.model.svd_unet}
        clash = [k for k, v in named.items() if v]
        if clash:
            raise ConfigError(f"model.init_from: cannot be combined with {', '.join(clash)}")
        self.model.unet = str(folder / "unet")
        self.model.vae.pretrained = str(folder / "vae")
        self.model.image_encoder.pretrained = str(folder / "image_encoder")


OPTIMIZERS = ("adamw", "adamw_8bit")
# A value written as <NAME> (e.g. data.root: <INTERHF_DATA>) is a placeholder for a path only the user knows: a config
# holding one loads (so that it can be shown, checked and overridden), and training refuses to start until it is set.
PLACEHOLDER = re.compile(r"<[A-Za-z0-9_.-]+>")


def placeholders(config: TrainConfig) -> dict[str, str]:
    """Dotted keys whose string values still hold a ``<NAME>`` placeholder, with those values."""
    found = {}

    def walk(node, prefix: str) -> None:
        for key, value in node.items():
            if isinstance(value, dict):
                walk(value, f"{prefix}{key}.")
            elif isinstance(value, str) and PLACEHOLDER.search(value):
                found[prefix + key] = value

    walk(config_to_dict(config), "")
    return found


def check_placeholders(config: TrainConfig) -> None:
    """One line naming every placeholder left in ``config`` and how to set it; nothing when there is none."""
    found = placeholders(config)
    if found:
        first = next(iter(found))
        raise ConfigError("placeholder(s) not replaced: " + ", ".join(f"{k}={v}" for k, v in found.items())
                          + f"; set them in the config file or on the command line, e.g. --set {first}=PATH")


# Parameter groups that `trainable` may name (resolved to parameters in trainer.parameter_groups).
PARAMETER_GROUPS = {
    "unet": "the base SVD UNet (all of it)",
    "unet_attention": "only the base UNet's attention blocks (low-memory fine-tuning, as StableAnimator)",
    "pose_encoder": "the pose encoder",
    "interaction_latents": "the spatial and temporal interaction latents L_s, L_t",
    "region": "the region attention blocks (maps, cross-attentions, mixers)",
    "id_preserver": "the ID preserver (projection and identity cross-attention)",
    "image_encoder": "the image encoder (only sensible for the small one trained here)",
}


# With ``model.backbone: wan``.
WAN_PARAMETER_GROUPS = {
    "transformer": "the whole Wan base (blocks, embeddings, Wan-Animate's streams)",
    "lora": "LoRA on the base blocks' attention projections (model.wan.lora_rank)",
    "wan_animate": "Wan-Animate's pose patch embedding, motion encoder, face encoder and face adapters",
    "interaction_latents": PARAMETER_GROUPS["interaction_latents"],
    "region": PARAMETER_GROUPS["region"],
    "id_preserver": PARAMETER_GROUPS["id_preserver"],
}


def _check_synth(synth: dict) -> None:
    """``data.synth`` holds keyword arguments of ``write_dataset``: every required one, no unknown one."""
    import inspect

    from interanimate.data.synth.writer import write_dataset

    params = dict(inspect.signature(write_dataset).parameters)
    params.pop("out_dir")
    unknown = sorted(set(synth) - set(params))
    if unknown:
        raise ConfigError(f"data.synth: unknown key(s) {', '.join(unknown)}; known: {', '.join(params)}")
    missing = [k for k, p in params.items() if p.default is inspect.Parameter.empty and k not in synth]
    if missing:
        raise ConfigError(f"data.synth: missing key(s) {', '.join(missing)}")


def _check_choice(key: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{key}: must be one of {', '.join(choices)}, got {value!r}")


def config_from_dict(data: dict, overrides: list[str] = ()) -> TrainConfig:
    return typed_from_dict(TrainConfig, data, overrides)


def load_config(path: str | Path, overrides: list[str] = ()) -> TrainConfig:
    """Read a YAML config; a top-level ``base: OTHER.yaml`` (relative to this file) is read first and this file's keys
    are merged over it (mappings key by key, anything else replaced), so a later training stage names only what it
    changes. ``overrides`` (``dotted.key=value``) apply last."""
    return load_typed_config(path, TrainConfig, overrides)


def config_to_dict(config: TrainConfig) -> dict:
    return dataclasses.asdict(config)
