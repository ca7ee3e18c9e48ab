"""Run ``interanimate`` commands and SIGKILL them at exact points, for the kill-and-resume tests.

    python killpoints.py PLAN.json RESULTS.json

PLAN is ``{"preload": [module, ...], "ops": [...]}``; each op is one of

* ``{"op": "run", "argv": [...], "log": FILE, "kill": null | {"at": POINT, "after": N}}``: runs
  ``interanimate.cli.main(argv)`` in a forked child (stdout and stderr to FILE); with ``kill`` the child sends itself
  SIGKILL at the (N+1)-th time it reaches POINT, so no ``finally``, ``atexit`` or buffered write of it runs:

  ``clip``              the synth writer is about to write a clip's annotations (its video is written)
  ``first_stage_step``  the first stage is about to compute a training step's loss
  ``train_step``        the trainer is about to run a training step (N steps are done)
  ``save_state``        accelerate has written a checkpoint's state into its temporary folder (not renamed yet)

* ``{"op": "move", "src": PATH, "dst": PATH}``: rename, e.g. to put a run's folder aside.
* ``{"op": "snapshot", "name": NAME, "root": PATH}``: records the relative paths of every file and folder under
  PATH and the text of its ``logs/*.csv``.

RESULTS gets one entry per op (a run: ``{"rc": exit code or None, "signal": signal number or None}``).

Children are forked from this process after the heavy imports (``preload``), so each run starts in milliseconds
instead of the seconds torch and diffusers take to import; the parent itself runs no torch code (forking after
OpenMP work is unsafe).
"""

from __future__ import annotations

import importlib
import json
import os
import signal
import sys
import traceback
from pathlib import Path


def _kill_at(point: str, after: int) -> None:
    """Patch the function at ``point`` (in this child only) to SIGKILL the process on its (after+1)-th call."""
    calls = [0]

    def hit() -> None:
        calls[0] += 1
        if calls[0] > after:
            os.kill(os.getpid(), signal.SIGKILL)

    def before(owner, name: str) -> None:
        real = getattr(owner, name)

        def patched(*args, **kwargs):
            hit()
            return real(*args, **kwargs)
        setattr(owner, name, patched)

    if point == "clip":
        import interanimate.data.synth.writer as writer
        before(writer, "save_annotations")
    elif point == "first_stage_step":
        import interanimate.training.first_stage as first_stage
        before(first_stage, "vae_loss")
    elif point == "train_step":
        from interanimate.training.trainer import Trainer
        before(Trainer, "training_step")
    elif point == "save_state":
        import accelerate
        real = accelerate.Accelerator.save_state

        def save_state(self, *args, **kwargs):
            out = real(self, *args, **kwargs)
            hit()
            return out
        accelerate.Accelerator.save_state = save_state
    else:
        raise ValueError(f"unknown kill point {point!r}")


def _run(op: dict) -> dict:
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        rc = 1
        try:
            fd = os.open(op["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            if op.get("kill"):
                _kill_at(op["kill"]["at"], int(op["kill"]["after"]))
            from interanimate.cli import main
            rc = main(op["argv"])
        except SystemExit as err:
            rc = err.code if isinstance(err.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(rc)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return {"rc": None, "signal": os.WTERMSIG(status)}
    return {"rc": os.WEXITSTATUS(status), "signal": None}


def _snapshot(root: Path) -> dict:
    paths = sorted(str(p.relative_to(root)) + ("/" if p.is_dir() else "") for p in root.rglob("*")) \
        if root.is_dir() else []
    logs = {p.name: p.read_text() for p in sorted((root / "logs").glob("*.csv"))}
    return {"paths": paths, "logs": logs}


def main() -> None:
    plan = json.loads(Path(sys.argv[1]).read_text())
    for name in plan.get("preload", []):
        importlib.import_module(name)
    results = []
    for op in plan["ops"]:
        if op["op"] == "run":
            results.append(_run(op))
        elif op["op"] == "move":
            os.replace(op["src"], op["dst"])
            results.append({})
        elif op["op"] == "snapshot":
            results.append(_snapshot(Path(op["root"])))
        else:
            raise ValueError(f"unknown op {op['op']!r}")
    Path(sys.argv[2]).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
