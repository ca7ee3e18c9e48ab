"""``prepare`` killed with SIGKILL mid-run and run again ends with exactly what one uninterrupted run writes."""

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from interanimate.utils.video import write_mp4

CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[1])
    from conftest import StubBackend  # the suite's stub pose backend (a fixed hand and face)
    from interanimate.annotate.backends import register_backend
    from interanimate.cli import main

    class Slow(StubBackend):
        def __call__(self, frame):
            time.sleep(float(sys.argv[2]))  # slow enough to be killed between videos and inside one
            return super().__call__(frame)

    register_backend("test-kill-stub", Slow)
    sys.exit(main(sys.argv[3:]))
""")


def _prepare(videos: Path, out: Path, delay: float) -> subprocess.Popen:
    argv = ["prepare", "--videos", str(videos), "--out", str(out), "--pose-backend", "test-kill-stub",
            "--identity", "none", "--no-progress"]
    return subprocess.Popen([sys.executable, "-c", CHILD, str(Path(__file__).parent), str(delay), *argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_prepare_killed_twice_resumes_to_the_uninterrupted_result(tmp_path, tiny_video):
    videos = tmp_path / "videos"
    for i in range(5):
        write_mp4(videos / f"v{i}.mp4", tiny_video(16, seed=i), fps=8)
    reference = tmp_path / "reference"
    assert _prepare(videos, reference, 0.0).wait(timeout=120) == 0

    out = tmp_path / "out"
    for finished in (1, 3):  # kill once after the first clip, once after the third
        child = _prepare(videos, out, 0.05)
        deadline = time.time() + 600  # a bound against a hang on a loaded machine, not a speed figure
        while len(list(out.glob("clips/*/record.json"))) < finished and child.poll() is None:
            assert time.time() < deadline
            time.sleep(0.02)
        time.sleep(0.3)  # into the next video
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL  # killed, not finished
    assert len(list(out.glob("clips/*/record.json"))) < 5
    assert _prepare(videos, out, 0.0).wait(timeout=120) == 0

    got, want = _files(out), _files(reference)
    assert sorted(got) == sorted(want)  # no temp files, nothing missing, nothing twice
    assert got == want
    assert len(want["manifest.jsonl"].splitlines()) == 5
