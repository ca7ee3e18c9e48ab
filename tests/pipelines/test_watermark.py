"""The provenance marks: the invisible IA02 mark survives two CRF-23 re-encodes of SynthHF-rendered clips at 64×64 (the
bundled model's size) and 128×128, unmarked video is not flagged, PNG/GIF tags round-trip, the CLI's exit codes."""

import numpy as np
import pytest

from interanimate.cli import main
from interanimate.data.synth.heldout import render_heldout_clip
from interanimate.pipelines.outputs import write_gif, write_png, write_video
from interanimate.pipelines.watermark import read_image_tag
from interanimate.pipelines.watermark import (DETECTION_THRESHOLD, LEGACY_PAYLOAD, METADATA_VALUE, NUM_BITS,
                                              cell_layout, detect_watermark, distinct_cells_per_bit, embed_watermark,
                                              payload_bits, verify_video)
from interanimate.utils.video import read_video, write_mp4


@pytest.fixture(scope="module", params=[(64, 64), (128, 128)], ids=["64x64", "128x128"])
def clip(request):
    """Generated-looking content: a held-out SynthHF clip (smooth face, hand, blurred background), 8 frames."""
    return render_heldout_clip("LH-NP", 0, frames=8, size=request.param)["frames"]  # (8, H, W, 3) uint8


def reencode(path, out, times=2):
    """Decode and write again with the package's own writer at CRF 23, ``times`` times; returns the last path."""
    for i in range(times):
        frames, _ = read_video(path)
        path = out.with_name(f"{out.stem}-{i}.mp4")
        write_mp4(path, frames, crf=23)
    return path


def test_mark_is_small_and_read_back(clip):
    marked = embed_watermark(clip)
    change = marked.astype(float) - clip
    assert np.abs(change).mean() < 3.0 and 10 * np.log10(255 ** 2 / (change ** 2).mean()) > 37  # dB
    assert detect_watermark(marked).bit_accuracy == 1.0
    assert not detect_watermark(clip).present


def test_mark_survives_two_crf23_reencodes(clip, tmp_path):
    write_video(tmp_path / "gen.mp4", clip)
    fresh = verify_video(tmp_path / "gen.mp4")
    assert fresh.present and fresh.metadata_tag and fresh.payload == "IA02"
    report = verify_video(reencode(tmp_path / "gen.mp4", tmp_path / "re.mp4"))  # a re-encode drops the tag
    assert report.present and report.payload == "IA02" and not report.metadata_tag, report


def test_unmarked_clip_not_detected(clip, tmp_path):
    write_video(tmp_path / "plain.mp4", clip, watermark=False)
    for path in (tmp_path / "plain.mp4", reencode(tmp_path / "plain.mp4", tmp_path / "re.mp4")):
        report = verify_video(path)
        assert not report.present and not report.metadata_tag and report.bit_accuracy < DETECTION_THRESHOLD


def test_flip_keeps_the_mark(clip):
    marked = embed_watermark(clip)
    assert detect_watermark(marked[:, :, ::-1]).bit_accuracy == 1.0  # the cell layout is mirror-symmetric


def test_cell_layout_gives_every_bit_its_share():
    assert (distinct_cells_per_bit(64, 64) == 64 * 64 // 4 // 2 // NUM_BITS).all()  # 2×2 cells, mirrored
    layout = cell_layout(64, 64)
    assert (layout.bit == layout.bit[:, ::-1]).all() and (layout.chips == layout.chips[:, ::-1]).all()
    assert abs(layout.chips.sum()) < 0.2 * layout.chips.size  # chip signs are balanced


def test_other_payload_is_not_ours():
    frames = render_heldout_clip("RH-EB", 1, frames=4, size=(64, 64))["frames"]
    other = bytes(b ^ 0xFF for b in b"IA02")  # every bit flipped
    assert detect_watermark(embed_watermark(frames, payload=other)).bit_accuracy == 0.0


def test_legacy_ia01_videos_still_verify(tmp_path):
    import cv2
    from imwatermark.dwtDctSvd import EmbedDwtDctSvd

    frames = render_heldout_clip("LH-NP", 0, frames=8, size=(64, 64))["frames"]
    embedder = EmbedDwtDctSvd(list(payload_bits(LEGACY_PAYLOAD)), wmLen=32, scales=[0, 64, 0], block=4)
    marked = np.stack([cv2.cvtColor(embedder.encode(cv2.cvtColor(f, cv2.COLOR_RGB2BGR)), cv2.COLOR_BGR2RGB)
                       for f in frames])  # what IA01 outputs held
    write_mp4(tmp_path / "old.mp4", marked)
    report = verify_video(tmp_path / "old.mp4")
    assert report.present and report.payload == "IA01"


def test_too_small_frames_rejected():
    with pytest.raises(ValueError, match="too small"):
        embed_watermark(np.zeros((2, 16, 16, 3), np.uint8))


def test_png_and_gif_carry_the_tag(tmp_path):
    frames = render_heldout_clip("LH-NP", 0, frames=4, size=(64, 64))["frames"]
    write_png(tmp_path / "tagged.png", frames[0])
    write_png(tmp_path / "plain.png", frames[0], provenance=False)
    write_gif(tmp_path / "tagged.gif", frames)
    write_gif(tmp_path / "plain.gif", frames, watermark=False)
    assert read_image_tag(tmp_path / "tagged.png") == METADATA_VALUE
    assert read_image_tag(tmp_path / "tagged.gif") == METADATA_VALUE
    assert read_image_tag(tmp_path / "plain.png") is None and read_image_tag(tmp_path / "plain.gif") is None
    gif = verify_video(tmp_path / "tagged.gif")  # the invisible mark survives the palette reduction too
    assert gif.present and gif.metadata_tag
    (tmp_path / "junk.png").write_bytes(b"not an image")
    with pytest.raises(ValueError, match="cannot read image"):
        read_image_tag(tmp_path / "junk.png")


def test_cli_prints_bit_agreement_and_exit_codes(tmp_path, capsys):
    frames = render_heldout_clip("LH-NP", 0, frames=4, size=(64, 64))["frames"]
    write_video(tmp_path / "gen.mp4", frames)
    write_mp4(tmp_path / "plain.mp4", frames)
    (tmp_path / "broken.mp4").write_bytes(b"\x00" * 100)

    assert main(["verify-watermark", str(tmp_path / "gen.mp4")]) == 0
    out = capsys.readouterr().out
    assert "PRESENT" in out and "bit agreement 100% = 32/32 bits" in out and "metadata tag present" in out
    assert main(["verify-watermark", str(tmp_path / "plain.mp4")]) == 1
    out = capsys.readouterr().out
    assert "not found" in out and "bit agreement" in out and "metadata tag absent" in out
    for bad in ("broken.mp4", "missing.mp4"):
        assert main(["verify-watermark", str(tmp_path / bad)]) == 2
        captured = capsys.readouterr()
        assert captured.out == "" and len(captured.err.strip().splitlines()) == 1 and "error:" in captured.err
