"""The web app's pieces without a browser: the folders it may read, its table filters, the animate command line it
builds, the generation job, its refusals at start-up, and the upload size limit."""

import json
import time
from argparse import Namespace

import pytest

from interanimate.errors import UserError
from interanimate.ui import actions
from interanimate.ui.roots import Roots


def test_roots_refuse_everything_outside(tmp_path):
    inside = tmp_path / "data"
    (inside / "set").mkdir(parents=True)
    (inside / "out").symlink_to("/etc")
    roots = Roots([inside])
    assert roots.resolve("set") == (inside / "set").resolve()
    assert roots.resolve(str(inside / "set")) == (inside / "set").resolve()
    for bad in ("/etc", "../", "set/../../", str(inside / "out"), "out/passwd", ""):
        with pytest.raises(UserError):
            roots.resolve(bad)
    with pytest.raises(UserError, match="no folder was given"):
        Roots([]).resolve("set")


def test_open_and_filter_a_set(tmp_path):
    from tests.ui.test_ui_browser import make_dataset

    make_dataset(tmp_path / "set", rows_per_class=4)
    (tmp_path / "synth").mkdir()
    (tmp_path / "synth" / "manifest.jsonl").write_text(json.dumps({"clip_id": "a", "video": "v.mp4"}) + "\n")
    roots = Roots([tmp_path])
    root, frame = actions.open_dataset(roots, "set")
    assert len(frame) == 12
    view = actions.filter_table(frame, ["LH-NP", "LR-FS"], ["train", "val"], None, 0.25)
    assert set(view["class_code"]) <= {"LH-NP", "LR-FS"} and set(view["split"]) <= {"train", "val"}
    assert (view["qc_hand_found_rate"] >= 0.25).all() and len(view) == 4  # k = 1 (val, 0.25), 3 (train, 0.75)
    assert len(actions.filter_table(frame, None, None, "00003", None)) == 3
    assert actions.find_sets(roots) == [(tmp_path / "set").resolve()]  # a set; not the SynthHF-like folder
    video, preview, label = actions.clip_files(roots, root, frame.iloc[0].to_dict())
    assert video.is_file() and preview.is_file() and "video_path" not in label
    with pytest.raises(UserError, match="not a generated one"):
        actions.open_dataset(roots, "synth")
    with pytest.raises(UserError, match="outside"):  # a manifest row pointing out of the roots
        actions.clip_files(roots, root, {"video_path": "../../../../etc/passwd"})


def test_the_animate_command_line(tmp_path):
    argv = actions.animate_argv(tmp_path / "me.png", tmp_path / "o.mp4", "class", "RH-NP — right hand pinches", None,
                                None, None, 4, 1.5, 8, 3, None)
    assert argv[:5] == ["animate", "--reference", str(tmp_path / "me.png"), "--out", str(tmp_path / "o.mp4")]
    assert argv[argv.index("--class") + 1] == "RH-NP" and argv[argv.index("--steps") + 1] == "4"
    with pytest.raises(UserError, match="pose file"):
        actions.animate_argv(tmp_path / "me.png", tmp_path / "o.mp4", "pose file", None, None, None, None, 4, 1.5,
                             8, 3, None)
    # a bad input surfaces as the command's one-line message, before any model loads
    (tmp_path / "me.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match="cannot read the image|--reference"):
        actions.run_animate(actions.animate_argv(tmp_path / "me.png", tmp_path / "o.mp4", "class", "LH-NP", None,
                                                 None, None, 1, 1.0, 4, 0, None))


def test_generation_job_starts_reports_and_refuses_outside(tmp_path):
    from pathlib import Path

    from interanimate.ui.jobs import GenerationJobs

    data = tmp_path / "data"
    data.mkdir()
    roots = Roots([data])
    recipe = Path(__file__).resolve().parents[2] / "configs" / "dataset_small.yaml"
    assert actions.check_recipe(roots, str(recipe)) == recipe
    with pytest.raises(UserError):
        actions.check_recipe(roots, "/etc/passwd")
    (data / "bad.yaml").write_text("clips_per_class: -3\n")
    with pytest.raises(UserError):
        actions.check_recipe(roots, "bad.yaml")
    jobs = GenerationJobs(tmp_path / "logs")
    out = roots.resolve("set")
    status = jobs.start(recipe, out)
    assert status.running or status.returncode is not None
    again = jobs.start(recipe, out)  # a second start while it runs is the same job
    assert len(jobs._jobs) == 1 and (again.running or again.returncode is not None)
    deadline = time.monotonic() + 600  # a hang bound: wait for the plan to appear
    while not (out / "plan.jsonl").is_file() and time.monotonic() < deadline and jobs.status(out).running:
        time.sleep(0.5)
    jobs.stop_all()
    assert jobs.status(out).planned in (0, 36)
    assert str(out) in jobs.describe_all()


def test_ui_refuses_bad_options_before_starting(tmp_path, capsys):
    from interanimate.cli import main

    assert main(["ui", "--data", str(tmp_path / "missing")]) == 2
    assert "no such folder" in capsys.readouterr().err
    assert main(["ui", "--model", str(tmp_path)]) == 2


def test_an_oversized_upload_is_refused_and_the_server_keeps_serving(tmp_path):
    import urllib.error
    import urllib.request
    import uuid

    from interanimate.cli.ui import launch
    from tests.ui.test_ui_browser import _free_port

    port = _free_port()
    app = launch(Namespace(host="127.0.0.1", port=port, model=None, data=[tmp_path], max_upload_mb=0.5), block=False)
    try:
        boundary = uuid.uuid4().hex
        body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"big.png\"\r\n"
                "Content-Type: image/png\r\n\r\n").encode() + b"\0" * (1 << 20) + f"\r\n--{boundary}--\r\n".encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/gradio_api/upload", data=body, method="POST",
                                         headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(request, timeout=120)
        assert err.value.code == 413
        assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=120).status == 200
    finally:
        app.close()
