"""jobs.machine_fault: what stops a job (the machine's fault) and what is an item's."""

import errno

from interanimate.jobs import machine_fault


def test_machine_faults_are_told_from_item_faults(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert machine_fault(OSError(errno.ENOSPC, "No space left on device", "/anywhere/x")) is not None
    assert machine_fault(OSError(errno.EROFS, "Read-only file system", str(out / "a"))) is not None
    assert machine_fault(OSError(errno.EIO, "Input/output error")) is not None
    # permission / missing-path errors: the machine's inside the output folder, the item's elsewhere
    assert machine_fault(PermissionError(errno.EACCES, "Permission denied", str(out / "clip")), out) is not None
    assert machine_fault(PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "input.mp4")), out) is None
    assert machine_fault(FileNotFoundError(errno.ENOENT, "gone", str(tmp_path / "input.mp4")), out) is None
    assert machine_fault(FileNotFoundError(errno.ENOENT, "gone", str(tmp_path / "x")), tmp_path / "vanished") \
        is not None
    # libraries that write through their own code: torch.save on a full disk
    torch_full = RuntimeError("[enforce fail at inline_container.cc:603] . PytorchStreamWriter failed writing file "
                              "data/3: file write failed")
    assert "file write failed" in machine_fault(torch_full)
    assert machine_fault(ValueError("video has no frames")) is None
    assert machine_fault(RuntimeError("shape mismatch")) is None
