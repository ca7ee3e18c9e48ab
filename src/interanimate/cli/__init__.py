"""The ``interanimate`` console script.

Each subcommand lives in its own module under ``interanimate.cli`` and exposes ``register(subparsers)``, which adds
its parser and sets ``func`` to a callable taking the parsed ``argparse.Namespace`` and returning an exit code.
Heavy imports (torch, diffusers) happen inside those callables so that ``--help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from interanimate import __version__
from interanimate.errors import MachineError, UserError

# Subcommand modules, in the order ``--help`` lists them. A module missing from the install is skipped.
SUBCOMMAND_MODULES = (
    "interanimate.cli.synth",
    "interanimate.cli.train",
    "interanimate.cli.animate",
    "interanimate.cli.demo",
    "interanimate.cli.evaluate",
    "interanimate.cli.prepare",
    "interanimate.cli.annotate",
    "interanimate.cli.motion",
    "interanimate.cli.watermark",
    "interanimate.cli.dataset",
    "interanimate.cli.benchmark",
    "interanimate.cli.ui",
)


def build_parser() -> argparse.ArgumentParser:
    from interanimate.cli.common import OneLineParser

    parser = OneLineParser(
        prog="interanimate",
        description="Hand-face interaction animation: data, training, generation and evaluation.",
    )
    parser.add_argument("--version", action="version", version=f"interanimate {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    for name in SUBCOMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as err:
            if err.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


class Terminated(KeyboardInterrupt):
    """SIGTERM (a scheduler's or ``kill``'s polite stop), raised where the work is so that it unwinds as Ctrl-C does:
    temporary files removed, worker pools stopped, nothing half-written counted as done."""


def _on_sigterm(signum, frame):
    raise Terminated()


def main(argv: list[str] | None = None) -> int:
    import signal
    import threading

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach a hub, whatever the caller forgot
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except UserError as err:
        message = " ".join(str(err).split())  # one line, whatever the message holds
        print(f"interanimate {args.command}: error: {message}", file=sys.stderr)
        return 2
    except Terminated:
        print("interanimate: terminated (SIGTERM); run the same command again to resume", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print("interanimate: interrupted", file=sys.stderr)
        return 130
    except MachineError as err:
        print(f"interanimate {args.command}: {' '.join(str(err).split())}", file=sys.stderr)
        return 3
    except Exception as err:  # a full disk, a read-only folder, an I/O error: one line, not a traceback
        from interanimate.jobs import machine_fault

        reason = machine_fault(err)
        if reason is None:
            raise
        print(f"interanimate {args.command}: stopped: {reason}; fix it and run the same command again (long jobs "
              "resume)", file=sys.stderr)
        return 3
