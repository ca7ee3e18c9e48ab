"""The motion generator bundle: hand and face VQ-VAEs, the collaborative transformer and (optionally) the evaluator,
saved as one ``model.safetensors`` plus ``config.json`` and loaded strictly.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from interanimate.errors import UserError
from interanimate.motion.evaluator import EvaluatorConfig, MotionEvaluator
from interanimate.motion.hand_fit import refine_hands
from interanimate.motion.representation import FACE_PARTY, refine_face
from interanimate.motion.sampling import SamplingConfig, generate_tokens
from interanimate.motion.transformer import CollaborativeTransformer, TransformerConfig
from interanimate.motion.vqvae import PartyVQVAE, VQVAEConfig
from interanimate.utils.io import atomic_path, write_text_atomic

CONFIG_NAME, WEIGHTS_NAME = "config.json", "model.safetensors"
# ``generate`` decodes at most GENERATE_BATCH samples together, fewer for long windows (attention cost ~ length²), so
# that no single op runs for more than about a second on a CPU and Ctrl-C is seen at once.
GENERATE_BATCH = 32
GENERATE_BUDGET = 32 * 64 ** 2  # samples × (token length)² per call
BUNDLED_DIR = Path(__file__).resolve().parent.parent / "assets" / "motion"


class MotionModel(nn.Module):
    def __init__(self, hand_vq: VQVAEConfig, face_vq: VQVAEConfig, transformer: TransformerConfig,
                 evaluator: EvaluatorConfig | None = None, frames: int = 32, sampling: SamplingConfig | None = None):
        super().__init__()
        if hand_vq.down_t != face_vq.down_t:
            raise ValueError("hand and face VQ-VAEs must share the temporal stride (down_t)")
        if (transformer.hand_codebook, transformer.face_codebook) != (hand_vq.codebook_size, face_vq.codebook_size):
            raise ValueError("transformer codebook sizes must match the VQ-VAEs'")
        self.hand_vq, self.face_vq = PartyVQVAE(hand_vq), PartyVQVAE(face_vq)
        self.transformer = CollaborativeTransformer(transformer)
        self.evaluator = MotionEvaluator(evaluator) if evaluator is not None else None
        self.frames = frames
        self.sampling = sampling or SamplingConfig()

    @property
    def stride(self) -> int:
        return self.hand_vq.config.stride

    def config_dict(self) -> dict:
        return {"hand_vq": self.hand_vq.config.to_dict(), "face_vq": self.face_vq.config.to_dict(),
                "transformer": self.transformer.config.to_dict(),
                "evaluator": self.evaluator.config.to_dict() if self.evaluator is not None else None,
                "frames": self.frames, "sampling": asdict(self.sampling)}

    # ---- persistence --------------------------------------------------------------------------------------------
    def save(self, folder: str | os.PathLike, extra: dict | None = None, half: bool = False) -> None:
        """Write config.json + model.safetensors (``half``: weights stored as float16, loaded back as float32)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        from safetensors.torch import save_file

        state = {k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        with atomic_path(folder / WEIGHTS_NAME) as tmp:  # renamed into place with normal permissions
            save_file(state, str(tmp))
        config = self.config_dict() | ({"info": extra} if extra else {})
        write_text_atomic(folder / CONFIG_NAME, json.dumps(config, indent=2, sort_keys=True) + "\n")

    @classmethod
    def from_config(cls, config: dict) -> "MotionModel":
        try:
            return cls._from_config(config)
        except (KeyError, TypeError, ValueError) as err:
            raise UserError(f"motion model config: bad or missing entry ({type(err).__name__}: {err})") from None

    @classmethod
    def _from_config(cls, config: dict) -> "MotionModel":
        return cls(VQVAEConfig(**config["hand_vq"]), VQVAEConfig(**config["face_vq"]),
                   TransformerConfig(**config["transformer"]),
                   EvaluatorConfig(**config["evaluator"]) if config.get("evaluator") else None,
                   frames=config.get("frames", 32), sampling=SamplingConfig(**config.get("sampling", {})))

    @classmethod
    def load(cls, folder: str | os.PathLike | None = None, device: str = "cpu") -> "MotionModel":
        """Load a saved bundle (default: the bundled model); every weight must match exactly."""
        from safetensors.torch import load_file

        folder = Path(folder) if folder is not None else BUNDLED_DIR
        model = cls.from_config(check_model_folder(folder))
        try:
            model.load_state_dict(load_file(str(folder / WEIGHTS_NAME), device=device), strict=True)
        except RuntimeError as err:  # missing/unexpected keys or shapes: never load partially
            raise UserError(f"{folder / WEIGHTS_NAME} does not match {CONFIG_NAME}: {err}") from None
        return model.to(device).eval()

    # ---- tokens <-> features ------------------------------------------------------------------------------------
    @torch.no_grad()
    def tokenize(self, hand: torch.Tensor, face: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.hand_vq.encode(hand), self.face_vq.encode(face)

    @torch.no_grad()
    def detokenize(self, hand_tokens: torch.Tensor, face_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token maps -> hand and face features; face positions rebuilt from head motion + deformation."""
        face = self.face_vq.decode(face_tokens)  # (B, F, 68, 6)
        if FACE_PARTY.with_deformation:
            face = torch.from_numpy(refine_face(face.float().cpu().numpy())).to(face)
        return self.hand_vq.decode(hand_tokens), face

    # ---- generation ---------------------------------------------------------------------------------------------
    def check_frames(self, frames: int) -> int:
        if frames < self.stride or frames % self.stride:
            raise UserError(f"frames must be a positive multiple of the temporal stride {self.stride}, got {frames}")
        return frames // self.stride

    @torch.no_grad()
    def generate(self, class_index: torch.Tensor | list[int], frames: int | None = None,
                 text: torch.Tensor | np.ndarray | None = None, sampling: SamplingConfig | None = None,
                 seed: int | list[int] | None = None, hand: torch.Tensor | None = None,
                 face: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Generate B motions: hand (B, F, 42, 5) and face (B, F, 68, 6) features in the face-centred frame.

        ``class_index`` (B,): class indices (``NULL_CLASS`` = unconditional); ``text`` (B, 384) MiniLM embeddings.
        ``hand`` / ``face``: a given party's features (B, F, J, C) to react to; that party's tokens stay fixed.
        ``seed``: one for the batch, or a list of B, one per sample (each sample then draws as it would alone with
        its seed, so a batch of motions is the motions made one by one, up to float rounding).
        """
        device = next(self.parameters()).device
        class_index = torch.as_tensor(class_index, dtype=torch.long, device=device).reshape(-1)
        if hand is not None or face is not None:
            frames = (hand if hand is not None else face).shape[1]
        length = self.check_frames(frames or self.frames)
        if text is not None:
            text = torch.as_tensor(text, dtype=torch.float32, device=device).reshape(class_index.shape[0], -1)
        if isinstance(seed, (list, tuple)):
            if len(seed) != class_index.shape[0]:
                raise ValueError(f"{len(seed)} seeds for {class_index.shape[0]} motions")
            generator = [torch.Generator(device=device).manual_seed(int(s)) for s in seed]
        else:
            generator = torch.Generator(device=device).manual_seed(0 if seed is None else int(seed))
        hand_given = self.hand_vq.encode(hand.to(device)) if hand is not None else None
        face_given = self.face_vq.encode(face.to(device)) if face is not None else None
        sampling = sampling or self.sampling
        outputs = []
        chunk = max(1, min(GENERATE_BATCH, GENERATE_BUDGET // length ** 2))
        for start in range(0, class_index.shape[0], chunk):  # short ops, so Ctrl-C is seen within a second
            part = slice(start, start + chunk)
            tokens = generate_tokens(self.transformer, class_index[part], length, sampling,
                                     None if text is None else text[part],
                                     None if hand_given is None else hand_given[part],
                                     None if face_given is None else face_given[part],
                                     generator[part] if isinstance(generator, list) else generator)
            hand_out, face_out = self.detokenize(*tokens)
            if sampling.hand_fit:
                hand_out = torch.from_numpy(refine_hands(hand_out.float().cpu().numpy())).to(hand_out)
            outputs.append((hand_out, face_out))
        return torch.cat([h for h, _ in outputs]), torch.cat([f for _, f in outputs])


def check_model_folder(folder: str | os.PathLike, option: str = "motion model") -> dict:
    """A motion-model folder: config.json parses and model.safetensors is whole. Returns the config."""
    from interanimate.model_folders import check_safetensors_file, read_json_file

    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{option} {folder}: no such folder")
    if not (folder / CONFIG_NAME).is_file() or not (folder / WEIGHTS_NAME).is_file():
        raise UserError(f"{option} {folder}: no motion model (expected {CONFIG_NAME} and {WEIGHTS_NAME})")
    config = read_json_file(folder / CONFIG_NAME)
    check_safetensors_file(folder / WEIGHTS_NAME)
    return config
