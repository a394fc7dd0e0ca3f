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
