"""Content keys: the one hash behind every cache in attrlab (trained models, attribution jobs).

A key is the SHA-1 of a canonical JSON of everything that changes a result, so nothing needs a
hand-bumped version: change an option, a setting or a model's source and the key changes.

Example:
    >>> content_hash({"b": 1, "a": [1, 2]}) == content_hash({"a": [1, 2], "b": 1})
    True
    >>> len(content_hash("x"))
    16
    >>> def f(): pass
    >>> content_hash({"model": f}) == content_hash({"model": f})  # by code, not by address
    True
"""
from __future__ import annotations

import hashlib
import inspect
import json
from typing import Any


def content_hash(obj: Any, length: int = 16) -> str:
    """SHA-1 (hex, first ``length`` characters) of ``obj`` as sorted JSON: functions and classes by
    their code (:func:`callable_id`, never their address in memory), the rest by ``str``."""
    return hashlib.sha1(json.dumps(obj, sort_keys=True, default=_json_default).encode()).hexdigest()[:length]


def _json_default(obj: Any) -> str:
    if inspect.isroutine(obj) or inspect.isclass(obj):
        return f"{getattr(obj, '__qualname__', '')}:{callable_id(obj)}"
    return str(obj)


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


def _value_id(value: Any, depth: int = 0) -> Any:
    """A stable stand-in for a value a function closes over: plain values as themselves, arrays and
    tensors by a hash of their bytes, functions by their own :func:`callable_id`, anything else
    by its type (its changes cannot be seen: give such a function ``version=``)."""
    if value is None or isinstance(value, (bool, int, float, str, bytes)):
        return value if not isinstance(value, bytes) else hashlib.sha1(value).hexdigest()
    if isinstance(value, (list, tuple, set, frozenset)) and depth < 3:
        items = [_value_id(v, depth + 1) for v in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    if isinstance(value, dict) and depth < 3:
        return {str(k): _value_id(v, depth + 1) for k, v in value.items()}
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor
        value = value.detach().cpu().numpy()
    if hasattr(value, "tobytes") and hasattr(value, "dtype"):  # a NumPy array
        return hashlib.sha1(value.tobytes()).hexdigest() + str(getattr(value, "shape", ""))
    if inspect.isroutine(value) and depth < 3:
        return callable_id(value, depth + 1)
    if inspect.ismodule(value):
        return f"module {value.__name__}"
    return f"<{type(value).__module__}.{type(value).__qualname__}>"


def callable_id(fn: Any, depth: int = 0) -> str:
    """A key for a user's function that changes when its behaviour can be seen to change: its
    source, the values it closes over, the module globals it names, its default arguments and an
    explicit ``version`` attribute (``fn.version = "2"``) for what none of those show (a file it
    reads, a model it downloads).

    Example:
        >>> def make(scale):
        ...     return lambda model, x, t: x * scale
        >>> callable_id(make(1.0)) == callable_id(make(1.0)), callable_id(make(1.0)) == callable_id(make(2.0))
        (True, False)
    """
    target = fn
    if not (inspect.isroutine(fn) or inspect.isclass(fn)) and callable(fn):
        target = type(fn)  # a callable object: its class's code and its attributes
    parts: dict[str, Any] = {"source": source_id(target), "version": str(getattr(fn, "version", ""))}
    code = getattr(target, "__code__", None)
    if code is not None:
        cells = getattr(target, "__closure__", None) or ()
        parts["closure"] = {name: _value_id(_cell(c), depth) for name, c in zip(code.co_freevars, cells)}
        globs = getattr(target, "__globals__", {})
        parts["globals"] = {n: _value_id(globs[n], depth) for n in sorted(set(code.co_names)) if n in globs
                            and not inspect.ismodule(globs[n])}
        parts["defaults"] = _value_id(getattr(target, "__defaults__", None), depth)
    elif target is not fn:
        parts["state"] = _value_id(dict(getattr(fn, "__dict__", {})), depth)
    return content_hash(parts, 12)


def _cell(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell
        return None
