"""The one exception type attrlab raises for a user's mistake; the CLI prints it as one line."""


class AttrlabError(Exception):
    """A problem the user can fix: an unknown name, a wrong shape, a NaN attribution, a bad option.

    Example:
        >>> try:
        ...     raise AttrlabError("unknown method 'foo'; try `attrlab list methods`")
        ... except AttrlabError as e:
        ...     print(e)
        unknown method 'foo'; try `attrlab list methods`
    """


def unknown_name(kind: str, name: str, choices, listing: str) -> AttrlabError:
    """The one error for an unknown name, with close matches as a hint.

    Example:
        >>> print(unknown_name("method", "gradiant", ["gradient", "gradcam"], "`attrlab list methods` shows all."))
        unknown method 'gradiant'. Did you mean gradient, gradcam? `attrlab list methods` shows all.
    """
    import difflib

    close = difflib.get_close_matches(name, list(choices), n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    return AttrlabError(f"unknown {kind} '{name}'.{hint} {listing}")


def one_line(exc: BaseException) -> str:
    """An exception as the one line a record or a job keeps: an :class:`AttrlabError` as it is,
    anything else as its type, first line and where it was raised.

    Example:
        >>> one_line(AttrlabError("bad option"))
        'bad option'
    """
    import traceback
    from pathlib import Path

    if isinstance(exc, AttrlabError):
        return str(exc)
    frame = traceback.extract_tb(exc.__traceback__)[-1] if exc.__traceback__ else None
    where = f" (at {Path(frame.filename).name}:{frame.lineno})" if frame else ""
    return f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}{where}"[:500]


def warning_line(message, category, filename, lineno, line=None) -> str:
    """``warnings.formatwarning`` for attrlab's processes: one line, no source excerpt."""
    return f"attrlab: warning: {message}\n"


class MissingContext(AttrlabError):
    """A method asked for something the environment does not lend (a true baseline, a reference
    set, a true segmentation): the method does not apply there."""
