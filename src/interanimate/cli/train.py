"""``interanimate train --config FILE [--resume latest] [--set key=value ...]``: train with the accelerate trainer.

The same command runs on one process or several::

    torchrun --standalone --nproc_per_node 2 -m interanimate train --config configs/train_tiny.yaml
    accelerate launch --multi_gpu --num_processes 2 -m interanimate train --config ...   (CPU: device cpu)
    accelerate launch --config_file launch/ddp_8gpu.yaml -m interanimate train --config configs/train_svd_xt.yaml

``--dry-run`` checks a config on this machine first: the model at its full width with random weights, one training
step on the CPU at a small size (``interanimate.training.dry_run``); with ``model.backbone: wan`` the transformer's
parameter counts and the traced memory plan per GPU, no step (``interanimate.training.wan_memory``).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    parser = subparsers.add_parser("train", help="train the model from a YAML run config",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="YAML run config (see configs/train_*.yaml)")
    parser.add_argument("--resume", default=None, metavar="latest|DIR",
                        help="continue from the newest checkpoint in output_dir ('latest') or a checkpoint folder")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set max_steps=10 --set device=cuda (repeatable)")
    parser.add_argument("--export", type=Path, default=None, metavar="DIR",
                        help="after training, also write the pipeline (EMA weights, fp16) to DIR")
    parser.add_argument("--dry-run", action="store_true",
                        help="build the configured model with random weights and run one training step on the CPU "
                             "at a small size (no SVD folder or dataset needed); print parameters and optimizer "
                             "state per group")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from interanimate.training.config import load_config
    from interanimate.training.trainer import Trainer

    from interanimate import validation

    validation.input_file(args.config, "--config", (".yaml", ".yml"))
    if args.resume not in (None, "latest"):
        validation.input_dir(Path(args.resume), "--resume")
    if args.export is not None:
        validation.output_dir(args.export, "--export")
    config = load_config(args.config, args.overrides)
    validation.output_dir(Path(config.output_dir), "output_dir")
    if args.dry_run and config.model.backbone == "wan":  # parameters and the traced memory plan; no step at 14B
        from interanimate.training.wan_memory import wan_dry_run

        for line in wan_dry_run(config):
            print(line, flush=True)
        return 0
    if args.dry_run:
        from interanimate.training.dry_run import dry_run

        for line in dry_run(config).lines(config):
            print(line, flush=True)
        return 0
    trainer = Trainer(config)
    trainer.train(resume=args.resume, export_to=args.export)
    return 0
