"""Ctrl-C stops a long command, with exit code 130, one line and no output file.

Each case runs the CLI in a child process that imports everything first and says "ready"; SIGINT is sent a moment
after, while the command is deep in its work (motion decoding / the denoising loop). No timed assertion: the child
must stop long before its work could have finished (``STOP_BOUND_S``, generous for a loaded machine); how fast it
stops is not a test's business.
"""

import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from PIL import Image

STOP_BOUND_S = 120  # the work asked for takes many times longer than this

CHILD = textwrap.dedent("""
    import signal, sys
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (a background job inherits SIG_IGN)
    import torch  # noqa: F401  (imports before "ready", so the signal lands in the work itself)
    import interanimate.motion.model, interanimate.pipelines.pipeline  # noqa: F401
    from interanimate.cli import main
    print("ready", flush=True)
    sys.exit(main(sys.argv[1:]))
""")


def _interrupt(argv: list[str], wait_s: float) -> tuple[int, str]:
    child = subprocess.Popen([sys.executable, "-c", CHILD, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(wait_s)
    assert child.poll() is None, "the command finished before it could be interrupted: make the case longer"
    child.send_signal(signal.SIGINT)
    try:
        _, err = child.communicate(timeout=STOP_BOUND_S)
    except subprocess.TimeoutExpired:
        child.kill()
        raise AssertionError("SIGINT did not stop the command") from None
    return child.returncode, err


def test_ctrl_c_stops_a_long_motion_generation(tmp_path):
    out = tmp_path / "m.npz"
    code, err = _interrupt(["motion", "generate", "--class", "LH-NP", "--num", "4", "--frames", "1024",
                                     "--out", str(out)], wait_s=3.0)  # the longest window the CLI takes
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interanimate: interrupted", err  # one closing line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_ctrl_c_stops_animate_and_writes_nothing(tmp_path):
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(tmp_path / "ref.png")
    out = tmp_path / "out" / "o.mp4"
    code, err = _interrupt(["animate", "--reference", str(tmp_path / "ref.png"), "--synth-class", "LH-NP",
                                     "--retarget", "none", "--frames", "48", "--steps", "50", "--out", str(out)],
                                    wait_s=4.0)
    assert code == 130 and "interrupted" in err and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "interanimate: interrupted", err  # one closing line
    assert not out.parent.exists() or list(out.parent.iterdir()) == []
