"""Run the trainer under accelerate's FSDP2 on CPU processes (gloo), for ``test_fsdp.py``.

accelerate turns FSDP on only where it finds GPUs: on CPU processes it sets up plain multi-CPU data parallelism,
even when ``accelerate launch --config_file launch/fsdp_8gpu.yaml`` has exported that file's FSDP settings. This
script sets accelerate's state to FSDP with the plugin those settings describe, in both places accelerate keeps it
(``AcceleratorState`` and ``PartialState``, as accelerate does on GPUs), then runs ``Trainer(config).train`` —
everything from ``prepare`` on (sharding, checkpoints, EMA, previews, export) is accelerate's and the trainer's code.

    accelerate launch --config_file FSDP.yaml fsdp_on_cpu.py CONFIG [--stop-at N] [--resume latest]
"""

import argparse

from accelerate import Accelerator
from accelerate.state import PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

from interanimate.errors import UserError
from interanimate.training.config import load_config
from interanimate.training.trainer import Trainer

_init = Accelerator.__init__


def _fsdp_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.state.fsdp_plugin = FullyShardedDataParallelPlugin()  # reads the FSDP_* variables accelerate launch set
    self.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config")
    parser.add_argument("--stop-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    Accelerator.__init__ = _fsdp_init
    try:
        trainer = Trainer(load_config(args.config))
        trainer.train(resume=args.resume, stop_at=args.stop_at)
    except UserError as err:
        print(f"error: {err}", flush=True)
        return 2
    assert trainer.accelerator.distributed_type == DistributedType.FSDP
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
