"""One accelerate-based trainer for every stage and size; what differs between runs is the config.

``Trainer(config).train(resume="latest")`` runs: ``build_models`` (first stage, UNet, parameter groups, EMA),
``build_data`` (InterHF clips: a random reference frame + a 16-frame clip), then ``training_step`` per batch
(SVD's EDM/v-prediction objective — or Wan's flow matching, ``model.backbone: wan``, training/wan_backbone.py —
with the region-amplified loss and λ·orthogonality loss, CFG conditioning
dropout, reference noise augmentation), with ``save`` (atomic checkpoints every N steps) and ``validate`` (preview
grids from held-out identities). The same command runs under ``torchrun``/``accelerate launch`` on several
processes; each process draws its own share of every global batch.

Determinism: the data order is a function of (seed, step) and every random draw in a step comes from a generator
seeded with (seed, rank, step) — whether the global batch trains unconditionally from one seeded with (seed, step),
equal on all processes — so a run resumed from a checkpoint repeats exactly what the uninterrupted run does.
The weights built after the first stage are seeded anew, so they are the same whether the first stage was trained in
this run or loaded from the output folder, and a restart before the first checkpoint repeats the same run.

Kills: every file a run writes appears complete or not at all (checkpoints and the first stage in temporary folders
renamed into place, logs rewritten atomically), what a killed run leaves half-written is deleted at start-up, and a
resumed run drops the log rows after its checkpoint's step (``StepLog``), so no log holds a step twice.
"""

from __future__ import annotations

import json
import math
import os
import time
from functools import cached_property, partial
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from interanimate.errors import UserError
from interanimate.training.build import build_image_encoder, build_optimizer, build_unet, id_embed_dim, unet_config
from interanimate.training.config import TrainConfig, check_placeholders, config_to_dict
from interanimate.models.first_stage import PatchPCAAutoencoder, build_small_vae, load_vae
from interanimate.training.first_stage import latent_scaling_factor, train_vae
from interanimate.training import export, wan_backbone
from interanimate.training.checkpoint import load_checkpoint, remove_temporaries, save_checkpoint
from interanimate.training.logs import RunLogs
from interanimate.training.sampling import StepBatchSampler, StepData, collate, short_clips
from interanimate.training.state import (CHECKPOINT_DIR, EMA, FIRST_STAGE_DIR, LOG_DIR, LOSS_MASK_KEYS,
                                         drop_conditions, list_checkpoints, lr_factor, resolve_resume,
                                         shared_step_generator, step_generator)
from interanimate.utils.io import save_pretrained_atomic

WEIGHT_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}  # mixed precision → the frozen Wan weights' dtype


# ----------------------------------------------------------------------------------------------- the trainer
class Trainer:
    def __init__(self, config: TrainConfig):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, DistributedType

        self.config = config
        use_cpu = config.device == "cpu" or (config.device == "auto" and not torch.cuda.is_available())
        if config.device == "cuda" and not torch.cuda.is_available():
            raise UserError("device: cuda was asked for but torch sees no CUDA device")
        # mixed precision on CUDA only: CPUs without native bf16 emulate it, many times slower than fp32
        precision = config.mixed_precision if not use_cpu else "no"
        self.accelerator = Accelerator(
            cpu=use_cpu, mixed_precision=precision,
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            # the pose encoder sits out unconditional batches: DDP must tolerate unused parameters
            kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
        sharded = {DistributedType.FSDP: "FSDP", DistributedType.DEEPSPEED: "DeepSpeed"}
        if self.accelerator.distributed_type in sharded and "image_encoder" in config.trainable:
            raise UserError(f"trainable: image_encoder cannot train under "
                            f"{sharded[self.accelerator.distributed_type]} (accelerate prepares one model with its "
                            "optimizer there, the UNet); leave it out (the paper's recipe freezes it) or use DDP")
        self.device = self.accelerator.device
        self.rank, self.world = self.accelerator.process_index, self.accelerator.num_processes
        self.output_dir = Path(config.output_dir)
        self.step = 0
        self.logs = RunLogs(self.output_dir / LOG_DIR, self.is_main, self.log)

    @property
    def is_main(self) -> bool:
        return self.accelerator.is_main_process

    def log(self, message: str) -> None:
        if self.is_main:
            print(f"[train] {message}", flush=True)

    # ------------------------------------------------------------------------------------------ build_data
    def build_data(self) -> None:
        from interanimate.data.dataset import DatasetConfig, InterHFDataset
        from interanimate.data.format import MANIFEST_NAME, SYNTH_RUN_NAME

        cfg = self.config.data
        root = Path(cfg.root)
        # render SynthHF when there is no dataset yet; continue an interrupted render; check a finished one was
        # rendered with these parameters (all three are one call: the writer skips the clips already there)
        rendered_here = (root / SYNTH_RUN_NAME).is_file()
        if not (root / MANIFEST_NAME).is_file() or (rendered_here and cfg.synth is not None):
            if cfg.synth is None:
                raise UserError(f"data.root {root} holds no dataset ({MANIFEST_NAME}) and data.synth is not set")
            if self.is_main:
                from interanimate.data.synth import write_dataset
                if not (root / MANIFEST_NAME).is_file():
                    self.log(f"rendering SynthHF into {root} ({cfg.synth})")
                try:
                    write_dataset(root, **cfg.synth)
                except UserError as err:
                    raise UserError(f"data.synth: {err}") from None
            self.accelerator.wait_for_everyone()
        size = tuple(cfg.size) if cfg.size else None
        hand_map = (self.config.model.wan.hand_map if self.config.model.backbone == "wan"  # the pose encoder takes it
                    else bool(unet_config(self.config.model).get("hand_map_channels", 0)))
        if self.config.hand_prior_strength < 1.0 and not hand_map:
            raise UserError(f"hand_prior_strength: {self.config.hand_prior_strength} needs a UNet that takes the hand "
                            "shape map (model.unet_overrides.hand_map_channels)")
        ds_cfg = DatasetConfig(num_frames=cfg.num_frames, stride=cfg.stride, size=size, reference=cfg.reference,
                               seed=self.config.seed, masks=cfg.region_masks, hand_map=hand_map)
        self.train_set = InterHFDataset(root, split="train", config=ds_cfg)
        if len(self.train_set) == 0:
            raise UserError(f"{root}: no training clips with >= {cfg.num_frames} frames")
        val_cfg = DatasetConfig(num_frames=cfg.num_frames, stride=cfg.stride, size=size, reference="first",
                                seed=self.config.seed, masks=cfg.region_masks, hand_map=hand_map)
        self.val_set = InterHFDataset(root, split=cfg.validation_split, config=val_cfg)
        self.log(f"data: {len(self.train_set)} training clips, {len(self.val_set)} held-out clips")

    def check_data_and_model(self) -> None:
        """Fail in one line, before anything is rendered, built or written, when the data cannot feed the model:
        identity vectors of another width than the UNet's ``id_embed_dim``."""
        from interanimate.data.format import MANIFEST_NAME

        cfg = self.config.data
        root = Path(cfg.root)
        if self.config.model.backbone == "wan":
            wan_backbone.check_folders(self.config.model)
        if self.config.model.init_from is not None:
            from interanimate.model_folders import check_pipeline_folder
            check_pipeline_folder(Path(self.config.model.init_from), "model.init_from")
        wanted = id_embed_dim(self.config.model)
        if wanted is None:
            return
        if (root / MANIFEST_NAME).is_file():
            from interanimate.data.dataset import identity_dim
            found, what = identity_dim(root), f"the identity vectors in {root}"
        elif cfg.synth is not None:
            from interanimate.data.synth.identity import EMBEDDING_DIM
            found, what = EMBEDDING_DIM, "SynthHF's identity vectors (data.synth)"
        else:
            return  # build_data says that there is no data
        if found is not None and found != wanted:
            fix = (f"set model.unet_overrides.id_embed_dim: {found}" if not Path(self.config.model.unet).is_dir()
                   else f"use data with {wanted}-d identity vectors")
            raise UserError(f"{what} are {found}-d but the model's id_embed_dim is {wanted}; {fix}")

    def _loader(self, dataset, batch_size: int, start: int, stop: int, seed: int):
        sampler = StepBatchSampler(batch_size, self.rank, self.world, start, stop)
        # its own generator: an iterator would otherwise draw its base seed from torch's global RNG, which a
        # checkpoint saves, so a resumed run's saved RNG state would differ from the uninterrupted run's
        return torch.utils.data.DataLoader(StepData(dataset, seed), batch_sampler=sampler, collate_fn=collate,
                                           num_workers=self.config.data.num_workers,
                                           persistent_workers=self.config.data.num_workers > 0,
                                           generator=torch.Generator().manual_seed(seed))

    # ------------------------------------------------------------------------------------------ build_models
    def build_models(self) -> None:
        cfg = self.config.model
        torch.manual_seed(self.config.seed)  # the same initial weights on every process and every run
        if cfg.backbone == "wan":  # the Wan-Animate transformer, Wan's VAE, the text condition
            wan_backbone.build_networks(self)
        else:
            self.vae = self._build_vae()
            # seeded again: the weights built next must not depend on whether the first stage was fitted, trained or
            # loaded from the output folder (training it draws random numbers, loading it does not)
            torch.manual_seed(self.config.seed)
            self.image_encoder = build_image_encoder(self.config.model)
            self.unet = build_unet(self.config.model)
        self.vae.requires_grad_(False).to(self.device).eval()
        self.image_encoder.to(self.device)
        self.unet.to(self.device)
        if self.config.gradient_checkpointing:
            self.unet.enable_gradient_checkpointing()
        groups = self.parameter_groups()
        for module in (self.unet, self.image_encoder):
            module.requires_grad_(False)
        params = []
        for name, named in groups.items():
            for _, p in named:
                p.requires_grad_(True)
            if named:
                lr = float(self.config.optim.group_lr.get(name, self.config.optim.lr))
                params.append({"params": [p for _, p in named], "lr": lr, "name": name})
        self.trainable_named = [(n, p) for named in groups.values() for n, p in named]
        if not self.trainable_named:
            raise UserError(f"trainable: {self.config.trainable} selects no parameters of this model")
        if cfg.backbone == "wan" and self.accelerator.mixed_precision in ("bf16", "fp16"):
            wan_backbone.cast_frozen(self, WEIGHT_DTYPES[self.accelerator.mixed_precision])
        self.unet.train()
        self.image_encoder.train("image_encoder" in self.config.trainable)
        o = self.config.optim
        self.optimizer = build_optimizer(params, o)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, partial(lr_factor, warmup=o.lr_warmup_steps, decay=o.lr_decay_steps,
                                    max_steps=self.config.max_steps))
        self.ema = None  # built by prepare, on the parameters the run trains (under FSDP their shards)
        n_train = sum(p.numel() for _, p in self.trainable_named)
        n_all = sum(p.numel() for p in self.unet.parameters()) + sum(p.numel() for p in self.image_encoder.parameters())
        name = f"wan transformer {cfg.wan.transformer}" if cfg.backbone == "wan" else f"unet {cfg.unet}"
        self.log(f"model: {name}, {n_all / 1e6:.2f}M parameters, {n_train / 1e6:.2f}M trainable "
                 f"({', '.join(f'{k}: {sum(p.numel() for _, p in v) / 1e6:.2f}M' for k, v in groups.items())})")

    def _first_stage_dir(self) -> Path:
        return self.output_dir / FIRST_STAGE_DIR

    def _build_vae(self):
        cfg = self.config.model.vae
        if cfg.pretrained:
            vae = load_vae(cfg.pretrained, torch.float32)
            size = self.config.data.size
            if isinstance(vae, PatchPCAAutoencoder) and size and size[0] != vae.config.sample_size:
                # the patch autoencoder works at any size; its sample_size is the (square) size the exported
                # pipeline generates at by default: this run's height
                vae.register_to_config(sample_size=int(size[0]))
            return vae
        trained = self._first_stage_dir() / "vae"
        if (trained / "config.json").is_file():  # only ever there complete: written atomically
            self.log(f"first stage: loading the VAE trained earlier from {trained}")
            return load_vae(trained)
        size = self.config.data.size[0] if self.config.data.size else 128
        if cfg.kind == "pca":
            if self.is_main:
                self._fit_pca_first_stage(PatchPCAAutoencoder(latent_channels=cfg.latent_channels,
                                                              sample_size=size), trained)
            self.accelerator.wait_for_everyone()
            return load_vae(trained)
        vae = build_small_vae(tuple(cfg.block_out_channels), cfg.layers_per_block, cfg.latent_channels, size,
                              temporal_decoder=cfg.kind == "temporal")
        if cfg.train_steps > 0:
            if self.is_main:
                self._train_first_stage(vae, trained)
            self.accelerator.wait_for_everyone()
            return load_vae(trained)
        return vae

    def _fit_pca_first_stage(self, vae, out_dir: Path) -> None:
        cfg = self.config.model.vae
        count = min(cfg.pca_clips, len(self.train_set))
        picks = np.random.default_rng(self.config.seed).choice(len(self.train_set), count, replace=False)
        images = torch.cat([self.train_set[int(i)]["frames"][::4] for i in picks])  # (N, 3, H, W)
        vae.fit(images)
        sf = latent_scaling_factor(vae, list(images.split(256)))
        vae.register_to_config(scaling_factor=sf)
        self.log(f"first stage: PCA of {len(images)} frames' patches, {cfg.latent_channels} components, "
                 f"latent scaling factor {sf:.4f}")
        save_pretrained_atomic(vae, out_dir)

    def _train_first_stage(self, vae, out_dir: Path) -> None:
        cfg = self.config.model.vae
        self.log(f"first stage: training the small VAE for {cfg.train_steps} steps")
        self.logs.restart("first_stage", 0)  # a killed earlier attempt's rows: this one logs every step again
        clip_set = short_clips(self.train_set, cfg.num_frames)
        loader = iter(self._loader(clip_set, cfg.batch_size, 0, cfg.train_steps, self.config.seed + 1))
        gen = torch.Generator(device=self.device).manual_seed(self.config.seed)
        train_vae(vae, loader, cfg.train_steps, cfg.lr, cfg.kl_weight, cfg.region_weight, self.device, gen,
                  log=lambda s, d: self.logs.write(s, d, "first_stage"), log_every=self.config.log_every)
        probe = iter(self._loader(clip_set, cfg.batch_size, 0, 4, self.config.seed + 2))
        sf = latent_scaling_factor(vae, [b["frames"].flatten(0, 1).to(self.device) for b in probe])
        vae.register_to_config(scaling_factor=sf)
        self.log(f"first stage: latent scaling factor {sf:.4f}")
        save_pretrained_atomic(vae, out_dir)

    def parameter_groups(self) -> dict[str, list[tuple[str, Tensor]]]:
        """The configured trainable groups, as named parameters (names prefixed ``unet.`` / ``image_encoder.``)."""
        from interanimate.models import trainable_parameter_groups

        if self.config.model.backbone == "wan":
            return wan_backbone.parameter_groups(self)
        unet_groups = trainable_parameter_groups(self.unet, named=True)
        available = {
            "unet": unet_groups["unet"],
            "unet_attention": [(n, p) for n, p in unet_groups["unet"] if ".attentions." in n],
            "pose_encoder": unet_groups["pose_encoder"],
            "interaction_latents": unet_groups["interaction_latents"],
            "region": unet_groups["region"],
            "id_preserver": unet_groups["id_preserver"],
            "image_encoder": list(self.image_encoder.named_parameters()),
        }
        chosen, seen = {}, set()
        for group in self.config.trainable:
            prefix = "image_encoder." if group == "image_encoder" else "unet."
            named = [(prefix + n, p) for n, p in available[group] if id(p) not in seen]
            seen.update(id(p) for _, p in named)
            chosen[group] = named
        return chosen

    # ------------------------------------------------------------------------------------------ training_step
    def autocast(self):
        """The precision context of the UNet call: accelerate's (mixed precision on CUDA), or, when the UNet's weights
        are themselves in low precision (DeepSpeed's bf16 engine, the dry run), ``torch.autocast`` in their dtype, so
        that the step's fp32 inputs are cast as they enter the UNet's layers."""
        dtype = self.accelerator.unwrap_model(self.unet).dtype
        if dtype == torch.float32:
            return self.accelerator.autocast()
        return torch.autocast(self.device.type, dtype=dtype)

    @cached_property
    def takes_hand_prior(self) -> bool:
        """Whether the configured UNet takes the hand prior (``hand_prior``): the training step then builds it."""
        return bool(unet_config(self.config.model).get("hand_prior", False))

    def training_step(self, batch: dict, generator: torch.Generator,
                      shared: torch.Generator | None = None) -> dict[str, Tensor]:
        """One micro-batch: returns the total loss (with grad) and its parts (detached).

        ``shared`` (default ``generator``) draws whether the batch trains unconditionally, which decides whether the
        pose encoder runs: the training loop passes a generator equal on every process, as FSDP needs every process
        to use the same parameters. The UNet's conditions are built and dropped by
        :mod:`interanimate.models.conditioning`, as the pipeline's."""
        from interanimate import losses
        from interanimate.models import conditioning as conditions

        if self.config.model.backbone == "wan":
            return wan_backbone.training_step(self, batch, generator, shared)
        cfg, cond = self.config, self.config.conditioning
        dev = self.device
        frames = batch["frames"].to(dev)  # (B, F, 3, H, W)
        reference = batch["reference"].to(dev)  # (B, 3, H, W)
        b, f = frames.shape[:2]
        sf = self.vae.config.scaling_factor

        with torch.no_grad():
            posterior = self.vae.encode(frames.flatten(0, 1)).latent_dist  # over (B·F, 3, H, W)
            eps = torch.randn(posterior.mean.shape, generator=generator).to(dev)
            latents = (posterior.mean + posterior.std * eps) * sf  # (B·F, C, h, w)
            latents = latents.unflatten(0, (b, f))  # (B, F, C, h, w)
            # reference noise augmentation: strength ~ U(0, max) per sample, also given to the UNet as a time id
            aug = torch.rand(b, generator=generator).to(dev) * cond.noise_aug_max  # (B,)
            ref_noise = torch.randn(reference.shape, generator=generator).to(dev)  # (B, 3, H, W)
            if cfg.residual_to_reference:  # the target becomes (z − z_ref) / s (clean reference, scaled like z)
                clean = self.vae.encode(reference).latent_dist.mode() * sf  # (B, C, h, w)
                latents = conditions.to_residual(latents, clean, self.residual_scale)  # (B, F, C, h, w)

        # the image embedding keeps its graph (a trained image encoder); the frozen VAE's reference latent has none
        image_size = self.accelerator.unwrap_model(self.image_encoder).config.image_size
        image_embeds, ref_latents = conditions.encode_reference(self.vae, self.image_encoder, reference, aug,
                                                                ref_noise, image_size)
        unet_cond = conditions.UNetConditions(
            image_embeds=image_embeds, ref_latents=ref_latents,
            time_ids=conditions.added_time_ids(cond.fps, cond.motion_bucket_id, aug),
            pose_frames=batch["pose"].to(dev), hand_mask=batch["hand_mask"].to(dev),
            face_mask=batch["face_mask"].to(dev), id_embedding=batch["identity_embedding"].to(dev))
        if self.takes_hand_prior:
            with torch.no_grad():
                unet_cond.hand_prior = conditions.hand_prior_latents(
                    self.vae, reference, unet_cond.pose_frames, unet_cond.face_mask,
                    self.residual_scale if cfg.residual_to_reference else None,
                    clean if cfg.residual_to_reference else None)  # (B, F, C, h, w)
        # conditioning dropout: the batch dropped whole as the sampler's unconditional pass, or per sample
        unet_cond = drop_conditions(unet_cond, cond, b, generator, shared, dev)
        weights = LOSS_MASK_KEYS[cfg.loss.weight_masks]

        sigma = losses.sample_sigmas(b, generator=generator, p_mean=cfg.loss.p_mean, p_std=cfg.loss.p_std,
                                     device=dev)  # (B,)
        noise = torch.randn(latents.shape, generator=generator).to(dev)  # (B, F, C, h, w)
        with self.autocast():
            loss, logs = losses.diffusion_training_loss(
                self.unet, latents, sigma, noise, unet_cond,
                loss_hand_mask=batch[weights[0]].to(dev), loss_face_mask=batch[weights[1]].to(dev),
                alpha_hand=cfg.loss.alpha_hand, alpha_face=cfg.loss.alpha_face,
                orthogonality_weight=cfg.loss.orthogonality_weight,
                orthogonality_model=self.accelerator.unwrap_model(self.unet))
        return {"loss": loss, "loss_diff": logs["loss_diff"], "loss_orth": logs["loss_orth"]}

    def _init_from_residual_scale(self) -> float | None:
        """The residual scale of the pipeline ``model.init_from`` names (the weights were trained with it)."""
        if self.config.model.init_from is None:
            return None
        from interanimate.model_folders import read_json_file

        spec = read_json_file(Path(self.config.model.init_from) / "model_index.json")
        return float(spec["residual_scale"]) if spec.get("residual_to_reference") else None

    @torch.no_grad()
    def measure_residual_scale(self, clips: int = 64) -> float:
        """Std of z − z_ref (scaled latents of the frames minus the clean reference's) over the first ``clips``
        training items: a pure function of the data, the first stage and the seed, so every process and every
        resumed run gets the same value."""
        items = collate([StepData(self.train_set, self.config.seed)[i] for i in range(min(clips, len(self.train_set)))])
        frames, reference = items["frames"].to(self.device), items["reference"].to(self.device)  # (N, F, 3, H, W)
        sf = self.vae.config.scaling_factor
        z = self.vae.encode(frames.flatten(0, 1)).latent_dist.mode() * sf  # (N·F, C, h, w)
        z_ref = self.vae.encode(reference).latent_dist.mode() * sf  # (N, C, h, w)
        residual = z.unflatten(0, frames.shape[:2]) - z_ref.unsqueeze(1)  # (N, F, C, h, w)
        return float(residual.float().std())

    # ------------------------------------------------------------------------------------------ save / resume
    def save(self) -> Path:
        """Checkpoint into ``checkpoints/step-N`` atomically (``training/checkpoint.py``)."""
        return save_checkpoint(self)

    def load(self, path: Path) -> None:
        load_checkpoint(self, path)

    # ------------------------------------------------------------------------------------------ validate
    def pipeline(self, unet=None, image_encoder=None):
        """The models being trained (or whole copies of them), as an ``InterAnimatePipeline`` (current weights)."""
        return export.training_pipeline(self, unet, image_encoder)

    def validate(self) -> Path | None:
        """Preview grid of held-out clips with the EMA weights (``training/export.py``); every process calls it."""
        return export.validate(self)

    def export(self, folder: str | os.PathLike | None = None, dtype: torch.dtype = torch.float32) -> Path:
        """The whole pipeline (EMA weights) into ``folder`` (default ``final/``); every process calls it."""
        return export.export(self, folder, dtype)

    # ------------------------------------------------------------------------------------------ train
    def _broadcast_flag(self, flag: bool) -> bool:
        """The main process's value of ``flag`` on every process (so that all stop at the same step)."""
        if self.world == 1:
            return flag
        from accelerate.utils import broadcast
        return bool(broadcast(torch.tensor([float(flag)], device=self.device), from_process=0).item())

    def setup(self, resume: str | None = None) -> None:
        """Build data and models, wrap them for distribution, and restore a checkpoint if asked."""
        from accelerate.utils import set_seed

        from interanimate.utils.io import write_text_atomic

        self._started = time.time()
        check_placeholders(self.config)
        self.check_data_and_model()
        set_seed(self.config.seed)  # python's, numpy's and torch's global generators (saved in checkpoints)
        if self.is_main:
            self.output_dir.mkdir(parents=True, exist_ok=True)
            remove_temporaries(self.output_dir)
            write_text_atomic(self.output_dir / "config.json", json.dumps(config_to_dict(self.config), indent=2))
        self.accelerator.wait_for_everyone()
        self.build_data()
        self.build_models()
        self.residual_scale = 1.0
        if self.config.residual_to_reference:
            self.residual_scale = (self.config.residual_scale or self._init_from_residual_scale()
                                   or self.measure_residual_scale())
            self.log(f"diffusing (z - z_ref) / {self.residual_scale:.4f} (residual_scale)")
        # the LR schedule is stepped by hand once per optimizer step (accelerate's wrapper steps it once per
        # process); it and the EMA are checkpointed by ``save`` (JSON and safetensors), not as accelerate's pickles
        self.prepare()
        checkpoint = resolve_resume(self.output_dir, resume, self.log)
        if checkpoint is not None:
            self.load(checkpoint)
        elif resume == "latest":
            self.log(f"--resume latest: no checkpoint found in {self.output_dir / CHECKPOINT_DIR}; "
                     "starting from step 0")
        elif list_checkpoints(self.output_dir):
            self.log(f"starting from step 0 without --resume (the checkpoints in {self.output_dir / CHECKPOINT_DIR} "
                     "are replaced as the run reaches their steps)")
        self.logs.restart("train", self.step)

    def prepare(self) -> None:
        """Wrap the UNet and the optimizer (and a trainable image encoder) for distribution: DDP, DeepSpeed or FSDP.

        Afterwards ``trainable_named`` holds the wrapped parameters (FSDP replaces every parameter by its shard, a
        DTensor), in the models' own order, and the EMA is built on them."""
        self.unet, self.optimizer = self.accelerator.prepare(self.unet, self.optimizer)
        # a frozen image encoder needs no wrapper; a trained one (DDP or one process only: __init__ refuses it under
        # FSDP and DeepSpeed, which take one model with the optimizer) gets DDP's
        if "image_encoder" in self.config.trainable:
            self.image_encoder = self.accelerator.prepare(self.image_encoder)
        # what ``accelerator.accumulate`` takes (FSDP2's no_sync is a method of the sharded model; a frozen image
        # encoder has none)
        self.prepared = (self.unet, self.image_encoder) if "image_encoder" in self.config.trainable else (self.unet,)
        current = {f"{prefix}.{n}": p for prefix, module in (("unet", self.unet), ("image_encoder", self.image_encoder))
                   for n, p in self.accelerator.unwrap_model(module).named_parameters()}
        wanted = {n for n, _ in self.trainable_named}
        lost = sorted(wanted - current.keys())
        if lost:
            raise RuntimeError(f"after accelerate's prepare, trainable parameters are not found by name: {lost[:3]}")
        # in registration order: accelerate's FSDP clipping compares the list with model.parameters() element-wise
        self.trainable_named = [(n, p) for n, p in current.items() if n in wanted]
        self.ema = EMA(self.trainable_named, self.config.ema_decay) if self.config.ema_decay > 0 else None

    def train(self, resume: str | None = None, stop_at: int | None = None,
              export_to: str | os.PathLike | None = None) -> dict:
        """Run until ``max_steps`` (or ``stop_at``, which simulates an interruption); returns the last log row.

        At the end: a validation preview, the pipeline in ``output_dir/final`` (fp32) and, with ``export_to``,
        a half-precision copy there (what ships as the bundled model)."""
        self.setup(resume)
        cfg = self.config
        accum = cfg.gradient_accumulation_steps
        end = min(cfg.max_steps, stop_at) if stop_at is not None else cfg.max_steps
        loader = self._loader(self.train_set, cfg.batch_size, self.step * accum, end * accum, cfg.seed)
        last, start_time, window = {}, time.time(), []
        micro, deadline = 0, None
        if cfg.time_limit_minutes is not None:
            deadline = self._started + 60.0 * cfg.time_limit_minutes
        for batch in loader:
            generator = step_generator(cfg.seed, self.rank, self.step, micro % accum)
            shared = shared_step_generator(cfg.seed, self.step, micro % accum)
            with self.accelerator.accumulate(*self.prepared):
                parts = self.training_step(batch, generator, shared)
                self.accelerator.backward(parts["loss"])
                grad_norm = None
                if self.accelerator.sync_gradients:
                    grad_norm = self.accelerator.clip_grad_norm_([p for _, p in self.trainable_named],
                                                                 cfg.optim.grad_clip)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
            micro += 1
            if not self.accelerator.sync_gradients:
                continue
            self.lr_scheduler.step()
            if not torch.isfinite(parts["loss"]):
                raise UserError(f"loss became {float(parts['loss'])} at step {self.step + 1}; lower optim.lr")
            self.step += 1
            if self.ema is not None:
                self.ema.update(self.trainable_named)
            window.append(float(parts["loss"].detach()))
            out_of_time = deadline is not None and self._broadcast_flag(time.time() > deadline)
            if out_of_time:
                self.log(f"time limit of {cfg.time_limit_minutes} min reached at step {self.step}")
                end = self.step
            if self.step % cfg.log_every == 0 or self.step == end:
                last = {"loss": float(np.mean(window)), "loss_diff": float(parts["loss_diff"]),
                        "loss_orth": float(parts["loss_orth"]), "lr": self.lr_scheduler.get_last_lr()[0],
                        "grad_norm": float(grad_norm) if grad_norm is not None else math.nan,
                        "sec_per_step": (time.time() - start_time) / len(window)}
                self.logs.write(self.step, last)
                window, start_time = [], time.time()
            if self.step % cfg.checkpoint_every == 0 or self.step == end:
                self.save()
            if cfg.validate_every and self.step % cfg.validate_every == 0:
                self.validate()
            if out_of_time:
                break
        if stop_at is None or end == cfg.max_steps or (deadline is not None and self.step == end):
            self.validate()
            self.export()
            if export_to is not None:
                self.export(export_to, dtype=torch.float16)
        self.accelerator.wait_for_everyone()
        self.logs.close()
        self.accelerator.end_training()
        return last

