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
    """``" (did you mean 'adamod'?)"`` when ``value`` is close to one of ``valid``, else ``""``.

    Close: the name with a zero typed for the letter O (``02``), or difflib's similarity ratio at
    least 0.75, case ignored; when several names are equally close, all of them are offered
    (``'beta_1', 'beta_2' or 'beta_3'``). The suggestion is spelled as kvt spells it.
    """
    import difflib

    spelled = {str(name).lower(): str(name) for name in valid}
    typed = str(value).lower()
    if typed not in spelled and typed.replace("0", "o") in spelled:  # a zero typed for the letter O (02, n0)
        return f" (did you mean '{spelled[typed.replace('0', 'o')]}'?)"
    scores = {name: difflib.SequenceMatcher(None, typed, name).ratio() for name in spelled}
    best = max(scores.values(), default=0.0)
    if best < 0.75:
        return ""
    close = [f"'{spelled[name]}'" for name, score in scores.items() if score == best]
    offered = close[0] if len(close) == 1 else f"{', '.join(close[:-1])} or {close[-1]}"
    return f" (did you mean {offered}?)"


def unknown(what: str, value, valid, listed_as: str | None = None) -> KvtError:
    """The error for a name kvt does not know: ``unknown optimizer 'adamood' (did you mean 'adamod'?); valid
    names: adam, ...``. ``listed_as`` names the list (default: ``valid`` + the plural of ``what``)."""
    listed_as = listed_as if listed_as is not None else f"valid {what}s"
    return KvtError(f"unknown {what} '{value}'{did_you_mean(value, valid)}; {listed_as}: "
                    f"{', '.join(str(name) for name in valid)}")
