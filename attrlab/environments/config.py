"""What every trained environment resolves the same way: its preset with the user's overrides,
and the folder where trained models are cached."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import AttrlabError


def resolve_preset(env: str, presets: dict[str, dict], preset: str, overrides: dict[str, Any],
                   named: str) -> dict[str, Any]:
    """The preset's options with ``overrides`` applied (each cast to the preset value's type);
    unknown presets and options are refused, the error listing ``named`` (the builder's named
    options) and the preset keys.

    Example:
        >>> resolve_preset("demo", {"quick": {"side": 64}}, "quick", {"side": "32"}, "seed")
        {'side': 32}
    """
    if preset not in presets:
        raise AttrlabError(f"unknown preset '{preset}'; choose one of {', '.join(presets)}")
    config = dict(presets[preset])
    unknown = set(overrides) - set(config)
    if unknown:
        raise AttrlabError(f"{env} has no option {', '.join(sorted(unknown))}; it takes {named}, {', '.join(config)}")
    for k, v in overrides.items():
        config[k] = type(presets[preset][k])(v)
    return config


def model_cache(cache_dir: str | os.PathLike | None) -> Path:
    """``cache_dir``, else ``$ATTRLAB_CACHE/models``, else ``~/.cache/attrlab/models`` (created)."""
    path = Path(cache_dir) if cache_dir else Path(os.environ.get("ATTRLAB_CACHE", Path.home() / ".cache" / "attrlab")) / "models"
    path.mkdir(parents=True, exist_ok=True)
    return path


def cached_model(path: Path, model, train) -> tuple[dict, dict]:
    """Load ``model``'s weights from ``path`` or train it: ``train()`` returns ``(record, extras)``
    (extras: anything else worth keeping, e.g. per-epoch checkpoints). The file is written
    atomically, so an interrupted run never leaves half a model. Returns ``(record with a
    'cached' flag, extras)``; the model is left on the CPU in eval mode.

    Example:
        >>> import tempfile, torch
        >>> path = Path(tempfile.mkdtemp()) / "m.pt"
        >>> m = torch.nn.Linear(2, 2)
        >>> cached_model(path, m, lambda: ({"epochs": 1}, {}))[0]
        {'epochs': 1, 'cached': False}
        >>> cached_model(path, torch.nn.Linear(2, 2), lambda: 1 / 0)[0]["cached"]
        True
    """
    import torch

    if path.exists():
        saved = torch.load(path, weights_only=False)
        model.load_state_dict(saved["state_dict"])
        model.eval()
        return {**saved["verification"], "cached": True}, saved.get("extras", {})
    record, extras = train()
    model.cpu().eval()
    tmp = path.with_suffix(".tmp")
    torch.save({"state_dict": model.state_dict(), "verification": record, "extras": extras}, tmp)
    os.replace(tmp, path)
    return {**record, "cached": False}, extras
