"""Data: the InterHF on-disk format, the training Dataset, and the SynthHF procedural generator (``data.synth``)."""

from interanimate.data.format import ClipRecord, read_manifest, write_manifest  # noqa: F401
