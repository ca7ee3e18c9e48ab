"""Errors that the CLI turns into one clear line and exit code 2."""


class UserError(Exception):
    """Bad input from the user (a missing file, a bad option, a corrupt clip). The message is shown as is."""


class DataError(UserError):
    """A dataset file is missing, corrupt, or points outside its root. The message names the clip."""
