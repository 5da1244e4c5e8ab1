"""Errors that the command line reports as one clear line instead of a traceback."""


class SublearnError(Exception):
    """A user-facing error: bad input, a missing or corrupt file, an impossible setting.

    The message names the field, file or line at fault and says what to do.
    """


class DataError(SublearnError):
    """A data file is missing, corrupt or malformed."""


class ConfigError(SublearnError):
    """A setting is invalid."""
