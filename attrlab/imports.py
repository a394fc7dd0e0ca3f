"""Objects named by reference, the way a user points attrlab at their own code:
``package.module:name`` (importable) or ``path/to/file.py:name`` (a file, loaded as a module).

Example:
    >>> load_object("math:sqrt")(9.0)
    3.0
    >>> is_reference("math:sqrt"), is_reference("integrated_gradients:steps=8"), is_reference("./m.py:f")
    (True, False, True)
"""
from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from .errors import AttrlabError


def is_reference(text: str) -> bool:
    """Whether ``text`` has the shape of ``module:name`` or ``file.py:name`` (an object name
    after the colon, no ``=``) rather than of a registered name with parameters
    (``name:key=value``). The method registry looks its own names up first."""
    head, sep, tail = text.strip().partition(":")
    name = tail.split(":")[0]
    return bool(sep and head and name) and "=" not in tail and all(p.isidentifier() for p in name.split("."))


def load_object(ref: str) -> Any:
    """The object ``ref`` names; :class:`AttrlabError` in one line when it cannot be found."""
    head, sep, name = ref.partition(":")
    if not sep or not name:
        raise AttrlabError(f"'{ref}' must look like package.module:name or path/to/file.py:name")
    if head.endswith(".py") or "/" in head:
        path = Path(head).expanduser()
        if not path.is_file():
            raise AttrlabError(f"'{ref}': file {path} does not exist")
        module_name = f"attrlab_user_{hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]}"
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module  # dataclasses and pickling look the module up by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(module_name, None)
            raise AttrlabError(f"'{ref}': importing {path} failed: {type(exc).__name__}: {exc}") from None
    else:
        if "" not in sys.path and str(Path.cwd()) not in sys.path:
            sys.path.insert(0, str(Path.cwd()))  # as `python -m` does: modules beside the user are importable
        try:
            module = importlib.import_module(head)
        except Exception as exc:
            raise AttrlabError(f"'{ref}': cannot import {head} ({type(exc).__name__}: {exc})") from None
    obj: Any = module
    for part in name.split("."):
        if not hasattr(obj, part):
            raise AttrlabError(f"'{ref}': {head} has no {name}")
        obj = getattr(obj, part)
    return obj
