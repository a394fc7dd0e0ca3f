"""Content keys: the one hash behind every cache in attrlab (trained models, attribution jobs).

A key is the SHA-1 of a canonical JSON of everything that changes a result, so nothing needs a
hand-bumped version: change an option, a setting or a model's source and the key changes.

Example:
    >>> content_hash({"b": 1, "a": [1, 2]}) == content_hash({"a": [1, 2], "b": 1})
    True
    >>> len(content_hash("x"))
    16
"""
from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any


def content_hash(obj: Any, length: int = 16) -> str:
    """SHA-1 (hex, first ``length`` characters) of ``obj`` as sorted JSON (``str`` for the rest)."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:length]


def source_id(obj: Any) -> str:
    """A hash of ``obj``'s source code (a class, function or the class of an instance), so a
    cache keyed on it is invalidated when the code is edited; its qualified name where Python
    cannot read the source (built-ins, code typed at a prompt).

    Example:
        >>> source_id(content_hash) == source_id(content_hash), len(source_id(content_hash))
        (True, 12)
    """
    target = obj if inspect.isclass(obj) or inspect.isroutine(obj) else type(obj)
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError):
        text = f"{getattr(target, '__module__', '')}.{getattr(target, '__qualname__', repr(target))}"
    return hashlib.sha1(text.encode()).hexdigest()[:12]
