"""Run the trainer under accelerate's FSDP2 or DeepSpeed ZeRO-2 on CPU processes (gloo), for ``test_sharded.py``.

accelerate turns both on only where it finds GPUs: on CPU processes it sets up plain multi-CPU data parallelism, even
when ``accelerate launch --config_file launch/fsdp_8gpu.yaml`` (or ``zero2_8gpu.yaml``) has exported that file's
settings. This script makes accelerate take the same path it takes on GPUs, then runs ``Trainer(config).train`` —
everything from ``prepare`` on (sharding, checkpoints, EMA, previews, export) is accelerate's, DeepSpeed's and the
trainer's own code:

* fsdp: after ``Accelerator.__init__``, accelerate's state is set to FSDP with the plugin the exported FSDP_*
  variables describe, in both places accelerate keeps it (``AcceleratorState`` and ``PartialState``), as accelerate
  does on GPUs;
* zero2: the accelerator is made with ``cpu=False`` (accelerate starts DeepSpeed only then) and its backend is gloo
  (what DeepSpeed's CPU accelerator uses; the test sets ``DS_ACCELERATOR=cpu``).

    accelerate launch --config_file FILE.yaml sharded_on_cpu.py {fsdp,zero2} CONFIG [--stop-at N] [--resume latest]
"""

import argparse

from accelerate import Accelerator
from accelerate.state import PartialState
from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

from interanimate.errors import UserError
from interanimate.training.config import load_config
from interanimate.training.trainer import Trainer

_init = Accelerator.__init__
EXPECTED = {"fsdp": DistributedType.FSDP, "zero2": DistributedType.DEEPSPEED}


def _fsdp_init(self, *args, **kwargs):
    _init(self, *args, **kwargs)
    self.state.fsdp_plugin = FullyShardedDataParallelPlugin()  # reads the FSDP_* variables accelerate launch set
    self.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP


def _zero2_init(self, *args, **kwargs):
    PartialState._prepare_backend = lambda *a, **k: ("gloo", DistributedType.MULTI_CPU)
    _init(self, *args, **{**kwargs, "cpu": False})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("strategy", choices=sorted(EXPECTED))
    parser.add_argument("config")
    parser.add_argument("--stop-at", type=int, default=None)
    parser.add_argument("--resume", default=None)
    args = parser.parse_args()
    Accelerator.__init__ = _fsdp_init if args.strategy == "fsdp" else _zero2_init
    try:
        trainer = Trainer(load_config(args.config))
        assert trainer.accelerator.distributed_type == EXPECTED[args.strategy], trainer.accelerator.distributed_type
        trainer.train(resume=args.resume, stop_at=args.stop_at)
    except UserError as err:
        print(f"error: {err}", flush=True)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
