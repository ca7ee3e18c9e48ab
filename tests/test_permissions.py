"""Output files get the usual permissions: 0o666 less the umask (``mkstemp``, under every atomic write, gives 0o600)."""

import os
import stat

import numpy as np
import pytest

from interanimate.utils.io import save_npz_atomic, write_text_atomic
from interanimate.utils.video import write_mp4


@pytest.fixture
def umask():
    old = os.umask(0o022)
    os.umask(old)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(old)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_atomic_writes_respect_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    write_text_atomic(tmp_path / "a.json", "{}")
    save_npz_atomic(tmp_path / "b.npz", {"x": np.zeros(3)})
    write_mp4(tmp_path / "c.mp4", np.zeros((2, 16, 16, 3), np.uint8))
    for name in ("a.json", "b.npz", "c.mp4"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == mode, name
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.json", "b.npz", "c.mp4"]  # no temp files left
