"""Ctrl-C stops a long command within a couple of seconds, with exit code 130 and no output file.

Each case runs the CLI in a child process that imports everything first and says "ready"; SIGINT is sent a moment
after, while the command is deep in its work (motion decoding / the denoising loop).
"""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

CHILD = textwrap.dedent("""
    import sys
    import torch  # noqa: F401  (imports before "ready", so the signal lands in the work itself)
    import interanimate.motion.model, interanimate.pipelines.pipeline  # noqa: F401
    from interanimate.cli import main
    print("ready", flush=True)
    sys.exit(main(sys.argv[1:]))
""")


def _interrupt(argv: list[str], wait_s: float) -> tuple[int, float, str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(wait_s)
    assert child.poll() is None, "the command finished before it could be interrupted: make the case longer"
    sent = time.perf_counter()
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        raise
    return child.returncode, time.perf_counter() - sent, err


def test_ctrl_c_stops_a_long_motion_generation(tmp_path):
    out = tmp_path / "m.npz"
    code, seconds, err = _interrupt(["motion", "generate", "--class", "LH-NP", "--num", "4", "--frames", "1024",
                                     "--out", str(out)], wait_s=3.0)  # the longest window the CLI takes
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert seconds < 3.0, f"took {seconds:.1f} s to stop"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_stops_animate_and_writes_nothing(tmp_path):
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out" / "o.mp4"
    code, seconds, err = _interrupt(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "LH-NP",
                                     "--retarget", "none", "--frames", "48", "--steps", "50", "--out", str(out)],
                                    wait_s=4.0)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert seconds < 3.0, f"took {seconds:.1f} s to stop"
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
