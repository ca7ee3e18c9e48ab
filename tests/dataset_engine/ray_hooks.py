"""Ray ``worker_process_setup_hook`` for the tests: make one worker process die in the middle of its first clip."""

import os


def crash_once() -> None:
    """Patch ClipMaker.make_batch: the first call in the whole cluster (an O_EXCL marker file decides) kills its
    process."""
    marker = os.environ.get("INTERANIMATE_TEST_CRASH_MARKER")
    if not marker:
        return
    from interanimate.datasets import clip

    original = clip.ClipMaker.make_batch

    def make_batch(self, rows, write=None):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return original(self, rows, write)
        os._exit(1)  # as a worker killed by the OOM killer: no exception, no cleanup

    clip.ClipMaker.make_batch = make_batch
