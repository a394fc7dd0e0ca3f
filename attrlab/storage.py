"""Files attrlab writes and reads back: every write atomic (a temporary file renamed into place,
so a kill never leaves half a file), every ``.pt`` read with ``torch.load(weights_only=True)``
(tensors and plain containers only: a planted pickle cannot run code).

Example:
    >>> import tempfile, torch
    >>> from pathlib import Path
    >>> p = Path(tempfile.mkdtemp()) / "t.pt"
    >>> write_atomic(p, lambda tmp: torch.save({"x": torch.ones(2)}, tmp))
    >>> load_tensors(p)["x"].tolist()
    [1.0, 1.0]
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from .errors import AttrlabError


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` then rename ``tmp`` to ``path`` (same folder, so the rename is atomic)."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def load_tensors(path: Path) -> Any:
    """A ``.pt`` file of tensors and plain containers; :class:`AttrlabError` naming the file when
    it is damaged or holds anything else (code, custom objects)."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise AttrlabError(f"{path} is not a plain tensor file attrlab wrote (refused to load it: "
                           f"{type(exc).__name__}: {first})") from None
