"""The one exception type kvt raises for bad input.

The CLI prints a ``KvtError`` as a single ``Error: ...`` line; library callers can
catch it as a ``ValueError``.
"""


class KvtError(ValueError):
    """Bad input or a failed run, with a message meant for the user."""


class Interrupted(KvtError):
    """Ctrl-C ended a command; the message says what was kept and how to go on. The CLI exits 130 (128 + SIGINT)."""

    exit_code = 130


class KvtWarning(UserWarning):
    """Something the user asked for that kvt did, with a caveat (e.g. extrapolation)."""


def did_you_mean(value, valid) -> str:
    """``" (did you mean 'adamod'?)"`` when ``value`` is close to one of ``valid`` (difflib's ratio >= 0.6), else ``""``.

    Case is ignored in the comparison; the suggestion is spelled as kvt spells it.
    """
    import difflib

    spelled = {str(name).lower(): str(name) for name in valid}
    close = difflib.get_close_matches(str(value).lower(), list(spelled), n=1, cutoff=0.6)
    return f" (did you mean '{spelled[close[0]]}'?)" if close else ""


def unknown(what: str, value, valid, listed_as: str | None = None) -> KvtError:
    """The error for a name kvt does not know: ``unknown optimizer 'adamood' (did you mean 'adamod'?); valid
    names: adam, ...``. ``listed_as`` names the list (default: ``valid`` + the plural of ``what``)."""
    listed_as = listed_as if listed_as is not None else f"valid {what}s"
    return KvtError(f"unknown {what} '{value}'{did_you_mean(value, valid)}; {listed_as}: "
                    f"{', '.join(str(name) for name in valid)}")
