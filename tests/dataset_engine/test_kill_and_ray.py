"""A dataset generation killed with SIGKILL at three different points and rerun ends exactly as an uninterrupted
run (same ids, same bytes of every file, no duplicates, no temporary files); the Ray engine with two workers gives
the same set as the local engine; a worker that dies is replaced and its clip made, nothing lost."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from interanimate.cli import main

from .conftest import files_of, manifest_rows

HOOKS = Path(__file__).parent / "ray_hooks.py"


def _generate(recipe: Path, out: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "interanimate", "dataset", "generate", str(recipe), "--out",
                             str(out), "--no-progress", *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill_when(child: subprocess.Popen, ready, what: str, timeout: float = 600) -> None:
    """SIGKILL ``child`` once ``ready()``; ``timeout``: a bound against a hang on a loaded machine, not a speed figure."""
    deadline = time.time() + timeout
    while not ready():
        if child.poll() is not None:
            raise AssertionError(f"the run ended (exit {child.returncode}) before {what}: "
                                 f"{child.stderr.read().decode()[-2000:]}")
        assert time.time() < deadline, f"never reached {what}"
        time.sleep(0.005)
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def test_killed_three_times_then_rerun_equals_an_uninterrupted_run(write_recipe, tmp_path):
    recipe = write_recipe(clips_per_class=3)  # 9 clips
    reference = tmp_path / "reference"
    assert _generate(recipe, reference).wait(timeout=300) == 0

    out = tmp_path / "out"
    clips = out / "clips"
    done = lambda: len(list(clips.glob("*/label.json"))) if clips.is_dir() else 0  # noqa: E731
    # 1. as soon as the plan is on disk, before any clip
    _kill_when(_generate(recipe, out), lambda: (out / "plan.jsonl").is_file(), "the plan")
    # 2. in the middle of a clip: its temporary folder exists
    _kill_when(_generate(recipe, out), lambda: any(clips.glob(".tmp-*")) if clips.is_dir() else False,
               "a clip being written")
    # 3. after some clips are finished, while the next ones are made
    start = done()
    _kill_when(_generate(recipe, out), lambda: done() >= start + 2, "two more clips")
    assert 0 < done() < 9 and not (out / "manifest.jsonl").exists()

    rerun = _generate(recipe, out)
    stdout, stderr = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, stderr.decode()
    made, skipped = (int(stdout.decode().split(word)[1].split(",")[0]) for word in ("done ", "skipped "))
    assert made + skipped == 9 and skipped >= 2  # the finished clips were kept, the rest made
    got, want = files_of(out), files_of(reference)
    assert sorted(got) == sorted(want)  # nothing missing, nothing extra: no temporary files, no duplicates
    assert got == want  # the same bytes: videos, masks, poses, previews, labels, plan, manifests
    rows = manifest_rows(out)
    assert len(rows) == 9 and len({r["clip_id"] for r in rows}) == 9


@pytest.fixture
def ray_cluster():
    ray = pytest.importorskip("ray")
    os.environ["PYTHONPATH"] = os.pathsep.join([str(HOOKS.parent), os.environ.get("PYTHONPATH", "")])
    yield ray
    if ray.is_initialized():
        ray.shutdown()


@pytest.mark.slow
@pytest.mark.timeout(1800)  # Ray's start-up and a worker's restart: minutes on a loaded 2-core machine
def test_ray_two_workers_equal_local_and_a_dead_worker_is_replaced(write_recipe, tmp_path, ray_cluster):
    from interanimate.datasets.engine import generate, load_job
    from interanimate.datasets.recipe import load_recipe

    recipe = write_recipe(clips_per_class=2)  # 6 clips
    local = tmp_path / "local"
    assert main(["dataset", "generate", str(recipe), "--out", str(local), "--no-progress"]) == 0

    # a worker process dies (os._exit) in its first clip; the marker makes it happen once in the whole cluster
    marker = tmp_path / "crashed"
    out = tmp_path / "ray"
    job = load_job(load_recipe(recipe), out)
    summary = generate(job, "ray", progress=False, workers=2,
                       runtime_env={"worker_process_setup_hook": "ray_hooks.crash_once",
                                    "env_vars": {"INTERANIMATE_TEST_CRASH_MARKER": str(marker),
                                                 "PYTHONPATH": os.environ["PYTHONPATH"]}})
    assert marker.is_file(), "the injected crash did not happen"
    assert summary.done == 6 and summary.failed == 0, summary
    assert files_of(out) == files_of(local)  # same manifest, byte-identical videos and labels


def test_unreachable_ray_address_is_one_line(write_recipe, tmp_path, capsys):
    out = tmp_path / "set"
    code = main(["dataset", "generate", str(write_recipe()), "--out", str(out), "--engine", "ray",
                 "--ray-address", "127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 2 and "cannot reach a Ray cluster" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()


def test_sigterm_stops_in_one_line_and_the_same_command_finishes(write_recipe, tmp_path):
    """SIGTERM (a scheduler's stop) mid-run: exit 143, one closing line, the clip being made left as a temporary
    folder; the rerun finishes a set equal to an uninterrupted run's that verify passes."""
    recipe = write_recipe()
    reference = tmp_path / "reference"
    assert _generate(recipe, reference).wait(timeout=300) == 0
    out = tmp_path / "out"
    clips = out / "clips"
    child = _generate(recipe, out)
    deadline = time.time() + 600  # a bound against a hang, not a speed figure
    while not (clips.is_dir() and len(list(clips.glob("*/label.json"))) >= 2):
        assert child.poll() is None and time.time() < deadline, "the run ended before it could be stopped"
        time.sleep(0.005)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=120)
    assert child.returncode == 143, err.decode()[-2000:]
    last = err.decode().strip().splitlines()[-1]
    assert last.startswith("interanimate: terminated") and "Traceback" not in err.decode()
    assert not (out / "manifest.jsonl").exists() and not (out / "failures.jsonl").exists()
    assert _generate(recipe, out).wait(timeout=300) == 0
    assert files_of(out) == files_of(reference)
    assert main(["dataset", "verify", str(out)]) == 0


def test_worker_processes_equal_one_process_and_a_dead_worker_stops_in_one_line(write_recipe, tmp_path, capsys):
    """The local engine's worker processes (2, one thread each) make the same bytes as this process alone; a worker
    that dies stops the run with one line (exit 3, nothing recorded as failed) and the same command finishes it."""
    recipe = write_recipe(**{"generation.batch_size": 2})  # 6 clips: 3 plan batches
    one, two = tmp_path / "one", tmp_path / "two"
    assert main(["dataset", "generate", str(recipe), "--out", str(one), "--no-progress", "--workers", "1"]) == 0
    assert main(["dataset", "generate", str(recipe), "--out", str(two), "--no-progress", "--workers", "2"]) == 0
    assert files_of(two) == files_of(one)

    dying = tmp_path / "dying"
    env = {"INTERANIMATE_TEST_CRASH_MARKER": str(tmp_path / "crashed"),
           "INTERANIMATE_WORKER_SETUP": "ray_hooks.crash_once",  # the first batch's worker dies (os._exit)
           "PYTHONPATH": os.pathsep.join([str(HOOKS.parent), os.environ.get("PYTHONPATH", "")])}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # the spawned workers inherit it
    try:
        assert main(["dataset", "generate", str(recipe), "--out", str(dying), "--no-progress", "--workers", "2"]) == 3
    finally:
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)
    err = capsys.readouterr().err.strip().splitlines()
    assert "worker process died" in err[-1] and not (dying / "failures.jsonl").exists()
    assert main(["dataset", "generate", str(recipe), "--out", str(dying), "--no-progress", "--workers", "2"]) == 0
    assert files_of(dying) == files_of(one)
