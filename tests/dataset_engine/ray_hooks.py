"""Ray ``worker_process_setup_hook`` for the tests: make one worker process die in the middle of its first clip."""

import os


def crash_once() -> None:
    """Patch ClipMaker.make: the first call in the whole cluster (an O_EXCL marker file decides) kills its process."""
    marker = os.environ.get("INTERANIMATE_TEST_CRASH_MARKER")
    if not marker:
        return
    from interanimate.datasets import clip

    original = clip.ClipMaker.make

    def make(self, row):
        try:
            os.close(os.open(marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return original(self, row)
        os._exit(1)  # as a worker killed by the OOM killer: no exception, no cleanup

    clip.ClipMaker.make = make
