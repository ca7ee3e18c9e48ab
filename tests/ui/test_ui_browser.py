"""`interanimate ui` in a real browser: headless Chromium (Debian's chromium + chromium-driver; .ci/run installs them)
driven by Selenium. Screenshots go to $UI_SCREENSHOTS (default: the test's tmp folder); docs/ui.md shows some.

Timings are printed, never asserted (busy CI machines); the only time limits are generous hang bounds."""

import json
import os
import shutil
import socket
import time
import urllib.error
import urllib.request
from argparse import Namespace
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
pytest.importorskip("selenium")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                 reason="needs Debian's chromium and chromium-driver (.ci/run installs them)")]
HANG = 600  # seconds: a bound against a hang, not a speed figure


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_dataset(root: Path, rows_per_class: int = 3) -> Path:
    """A set in the dataset engine's layout (what the Dataset tab reads): videos, previews, labels, QC fields."""
    from interanimate.pipelines.outputs import write_png
    from interanimate.utils.video import write_mp4

    rng = np.random.default_rng(0)
    rows = []
    for code in ("LH-NP", "RC-SF", "LR-FS"):
        for k in range(rows_per_class):
            clip_id = f"{code}-{k:04d}"
            frames = rng.integers(0, 255, (8, 32, 32, 3), dtype=np.uint8)
            write_mp4(root / "clips" / clip_id / "video.mp4", frames)
            write_png(root / "clips" / clip_id / "preview.png", frames[0])
            rows.append({"clip_id": clip_id, "class_code": code, "split": ("train", "val", "test")[k % 3],
                         "identity": f"synthhf-{k:05d}", "hand": "left", "face_region": "nose",
                         "qc_hand_found_rate": round(k / rows_per_class, 3), "qc_identity_cosine": 0.9,
                         "video_path": f"clips/{clip_id}/video.mp4", "preview_path": f"clips/{clip_id}/preview.png"})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from interanimate.cli.ui import launch

    data = tmp_path_factory.mktemp("data")
    make_dataset(data / "set")
    (data / "not-a-set").mkdir()
    (data / "escape").symlink_to("/etc")
    port = _free_port()
    args = Namespace(host="127.0.0.1", port=port, model=None, data=[data], max_upload_mb=1.0)
    app = launch(args, block=False)
    yield f"http://127.0.0.1:{port}", data
    app.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1800",
                 "--autoplay-policy=no-user-gesture-required"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(HANG)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("UI_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _wait(driver, condition, timeout=HANG):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25).until(condition)


def _text_of(driver, elem_id: str) -> str:
    return driver.find_element("css selector", f"#{elem_id}").text


def _wait_text(driver, elem_id: str, *words: str) -> str:
    _wait(driver, lambda d: all(w in _text_of(d, elem_id) for w in words))
    return _text_of(driver, elem_id)


def _set_number(driver, elem_id: str, value) -> None:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("css selector", f"#{elem_id} input[type=number]")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(str(value), Keys.TAB)


def _type(driver, elem_id: str, text: str, enter: bool = True) -> None:
    from selenium.webdriver.common.keys import Keys

    box = driver.find_element("css selector", f"#{elem_id} input, #{elem_id} textarea")
    box.send_keys(Keys.CONTROL, "a")
    box.send_keys(Keys.DELETE)
    box.send_keys(text)
    if enter:
        box.send_keys(Keys.ENTER)
    box.send_keys(Keys.TAB)


def _tab(driver, name: str) -> None:
    buttons = [b for b in driver.find_elements("css selector", "button[role=tab]") if b.text.strip() == name]
    buttons[0].click()


def _video_playable(driver, elem_id: str) -> bool:
    return bool(driver.execute_script(
        f"const v = document.querySelector('#{elem_id} video'); return v && v.readyState >= 1 && v.duration > 0;"))


def _rows(driver):
    """The table's body rows (Gradio's Dataframe is a virtual grid of role=row divs)."""
    return driver.find_elements("css selector", "#manifest-table [role=row].virtual-row")


def _table_rows(driver) -> int:
    return len(_rows(driver))


def test_page_loads_and_animates_the_bundled_sample(served, browser, shots):
    url, _ = served
    start = time.perf_counter()
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "#animate-button"))
    print(f"page load: {time.perf_counter() - start:.2f} s")
    browser.save_screenshot(str(shots / "animate_empty.png"))
    # a bad input first: no portrait -> a message in the page, and the server keeps serving
    browser.find_element("css selector", "#animate-button").click()
    assert "upload a portrait" in _wait_text(browser, "animate-status", "Error")
    browser.find_element("css selector", "#use-sample").click()
    _wait(browser, lambda d: d.find_elements("css selector", "#portrait img"))
    _set_number(browser, "steps", 2)
    _set_number(browser, "frames", 8)
    start = time.perf_counter()
    browser.find_element("css selector", "#animate-button").click()
    _wait_text(browser, "animate-status", "Done")
    _wait(browser, lambda d: _video_playable(d, "result-video"))
    print(f"animate the bundled sample from the page (2 steps, 8 frames): {time.perf_counter() - start:.1f} s")
    assert "hand check" in _text_of(browser, "animate-log") or "video:" in _text_of(browser, "animate-log")
    browser.save_screenshot(str(shots / "animate_done.png"))


def test_a_prompt_that_names_no_interaction_is_refused_in_the_page(served, browser, shots):
    url, _ = served
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "#use-sample"))
    browser.find_element("css selector", "#use-sample").click()
    _wait(browser, lambda d: d.find_elements("css selector", "#portrait img"))
    [label for label in browser.find_elements("css selector", "#source label") if label.text.strip() == "text"][0].click()
    _type(browser, "text", "the weather is nice today", enter=False)
    browser.find_element("css selector", "#animate-button").click()
    message = _wait_text(browser, "animate-status", "Error")
    assert "interaction" in message.lower(), message
    browser.save_screenshot(str(shots / "animate_bad_prompt.png"))


def test_an_image_without_a_face_is_refused_in_the_page(served, browser, tmp_path):
    from interanimate.pipelines.outputs import write_png

    url, _ = served
    grey = tmp_path / "grey.png"
    write_png(grey, np.full((96, 96, 3), 128, np.uint8), provenance=False)
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "#portrait input[type=file]"))
    browser.find_element("css selector", "#portrait input[type=file]").send_keys(str(grey))
    _wait(browser, lambda d: d.find_elements("css selector", "#portrait img"))
    _set_number(browser, "steps", 2)
    browser.find_element("css selector", "#animate-button").click()
    assert "finds no face" in _wait_text(browser, "animate-status", "Error")


def test_dataset_opens_filters_and_plays(served, browser, shots):
    url, data = served
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "button[role=tab]"))
    _tab(browser, "Dataset")
    _type(browser, "dataset-folder", str(data / "set"))
    browser.find_element("css selector", "#open-dataset").click()
    _wait_text(browser, "dataset-status", "9 clips")
    _wait(browser, lambda d: _table_rows(d) == 9)
    _type(browser, "filter-class", "LH-NP")
    start = time.perf_counter()
    browser.find_element("css selector", "#apply-filter").click()
    _wait_text(browser, "dataset-status", "3 of 9 clips")
    _wait(browser, lambda d: _table_rows(d) == 3)
    print(f"filter (9-row manifest, in the page): {time.perf_counter() - start:.2f} s")
    assert all("LH-NP" in row.text for row in _rows(browser))
    browser.find_element("css selector", "#manifest-table [data-testid=cell-1-0]").click()
    _wait(browser, lambda d: _video_playable(d, "clip-video"))
    assert "LH-NP" in _text_of(browser, "clip-label")
    browser.save_screenshot(str(shots / "dataset_clip.png"))


TINY_RECIPE = """name: ui-test
classes: [LH-NP]
clips_per_class: 1
frames: 4
seed: 0
identities: {synthhf: 1}
splits: {train: 1.0, val: 0.0, test: 0.0}
motion: {source: synthhf, retarget: false}
generation: {steps: 1, guidance: 1.0, identity: none, torch_threads: 1, batch_size: 1}
outputs: {mp4: true, poses: false, masks: false, preview: true}
"""


def test_generate_a_set_from_the_page_and_survive_a_reload(served, browser, shots):
    url, data = served
    (data / "tiny.yaml").write_text(TINY_RECIPE)
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "button[role=tab]"))
    _tab(browser, "Dataset")
    _wait(browser, lambda d: d.find_element("css selector", "#generate-panel button").is_displayed())
    browser.find_element("css selector", "#generate-panel button").click()
    _wait(browser, lambda d: d.find_element("css selector", "#generate-button").is_displayed())
    _type(browser, "recipe", str(data / "tiny.yaml"))
    _type(browser, "generate-out", "generated", enter=False)
    browser.find_element("css selector", "#generate-button").click()
    _wait_text(browser, "generation-status", "clips")
    browser.refresh()  # the job belongs to the server: a reloaded page still sees it, and its end
    _wait(browser, lambda d: d.find_elements("css selector", "button[role=tab]"))
    _tab(browser, "Dataset")
    _wait(browser, lambda d: d.find_elements("css selector", "#generation-status"))
    _wait_text(browser, "generation-status", "generated", "finished", "1 of 1")
    browser.save_screenshot(str(shots / "dataset_generated.png"))
    _tab(browser, "Dataset")
    _type(browser, "dataset-folder", str(data / "generated"))
    browser.find_element("css selector", "#open-dataset").click()
    _wait_text(browser, "dataset-status", "1 clips")


@pytest.mark.parametrize("folder, words", [("/etc", "outside the folders"), ("../../..", "outside the folders"),
                                           ("escape", "outside the folders"), ("not-a-set", "not a dataset")])
def test_paths_outside_the_roots_and_non_sets_are_refused(served, browser, folder, words):
    url, data = served
    browser.get(url)
    _wait(browser, lambda d: d.find_elements("css selector", "button[role=tab]"))
    _tab(browser, "Dataset")
    _type(browser, "dataset-folder", folder if folder.startswith("/") else str(data / folder))
    browser.find_element("css selector", "#open-dataset").click()
    assert words in _wait_text(browser, "dataset-status", "Error")


def test_the_file_route_serves_nothing_outside(served):
    url, data = served
    for path in ("/etc/passwd", str(data / "escape" / "passwd")):
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(f"{url}/gradio_api/file={path}", timeout=60)
        assert err.value.code in (403, 404)
