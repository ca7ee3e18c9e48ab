"""Errors that the CLI turns into one clear line and exit code 2."""


class UserError(Exception):
    """Bad input from the user (a missing file, a bad option, a corrupt clip). The message is shown as is."""


class DataError(UserError):
    """A dataset file is missing, corrupt, or points outside its root. The message names the clip."""


class MachineError(Exception):
    """A fault of the machine, not of the input or of one item (disk full, read-only or vanished output folder, I/O
    error): a long job stops with this one line and exit code 3, records nothing as failed, and the same command
    resumes once it is fixed (:mod:`interanimate.jobs`)."""
