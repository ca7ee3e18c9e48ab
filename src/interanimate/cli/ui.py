"""``interanimate ui``: a local web app to animate a portrait and to review a generated dataset (docs/ui.md).

  interanimate ui [--host 127.0.0.1] [--port 7860] [--model DIR] [--data DIR ...] [--max-upload-mb 20]

Serves on this machine only unless --host says otherwise (no public share link, ever). The Dataset tab opens and
reads only the folders given with --data (and sub-folders; `..`, other absolute paths and symlinks out are refused);
uploads go to the app's own temporary folder and are refused above --max-upload-mb. Needs the `ui` extra
(pip install 'interanimate[ui]').
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from interanimate.cli.common import int_range, number_range


def register(subparsers) -> None:
    parser = subparsers.add_parser("ui", help="local web app: animate a portrait, review a dataset",
                                   description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int_range(1, 65535, "port"), default=7860)
    parser.add_argument("--model", type=Path, default=None, help="pipeline folder (default: the bundled model)")
    parser.add_argument("--data", type=Path, action="append", default=[],
                        help="a folder the Dataset tab may read (repeatable)")
    parser.add_argument("--max-upload-mb", type=number_range(0.01, 10_000.0, "size"), default=20.0,
                        help="largest upload accepted (default 20 MB)")
    parser.set_defaults(func=run)


def check_inputs(args) -> None:
    from interanimate import validation
    from interanimate.errors import UserError
    from interanimate.model_folders import check_pipeline_folder

    for folder in args.data:
        validation.input_dir(folder, "--data")
    if args.model is not None:
        check_pipeline_folder(args.model, "--model")
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError("the web app needs Gradio: pip install 'interanimate[ui]'") from None


def launch(args, block: bool = True):
    """Build and start the app; returns it (``block=False``: serving in a background thread, for tests)."""
    check_inputs(args)
    workdir = Path(tempfile.mkdtemp(prefix="interanimate-ui-"))
    os.environ["GRADIO_TEMP_DIR"] = str(workdir / "uploads")  # uploads land in the app's own folder
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    from interanimate.ui.app import build_app, theme

    app = build_app(workdir, [Path(d).resolve() for d in args.data], args.model)
    app.queue(default_concurrency_limit=1)
    app.launch(server_name=args.host, server_port=args.port, share=False, inbrowser=False, ssr_mode=False,
               max_file_size=int(args.max_upload_mb * 1024 * 1024), allowed_paths=[str(workdir)]
               + [str(Path(d).resolve()) for d in args.data], theme=theme(), prevent_thread_lock=not block,
               quiet=not block, footer_links=[])
    return app


def run(args: argparse.Namespace) -> int:
    print(f"InterAnimate UI on http://{args.host}:{args.port} (Ctrl-C to stop)")
    launch(args, block=True)
    return 0
