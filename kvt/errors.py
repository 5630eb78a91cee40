"""The one exception type kvt raises for bad input.

The CLI prints a ``KvtError`` as a single ``Error: ...`` line; library callers can
catch it as a ``ValueError``.
"""


class KvtError(ValueError):
    """Bad input or a failed run, with a message meant for the user."""


class KvtWarning(UserWarning):
    """Something the user asked for that kvt did, with a caveat (e.g. extrapolation)."""
