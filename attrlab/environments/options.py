"""The options every trained environment takes, declared once (no torch: the declarations are
read by the command line's help); an environment sets its own default and, where its verdict
differs, its own help line: ``training_option("lr", 2e-3)``."""
from __future__ import annotations

from typing import Any

from .contract import Option

RESTARTS = Option("restarts", int, 2, "trainings from a new initialisation when one ends its epoch budget short of its "
                  "validation target (the best on validation is kept; the test set never chooses)",
                  minimum=0, maximum=100, shapes_model=False)


# the options every trained environment takes, declared once; an environment sets its own default
# (and, where its verdict differs, its own help line): training_option("lr", 2e-3)
TRAINING_OPTIONS = {o.name: o for o in (
    Option("threshold", float, 0.95, "test accuracy a model must reach to be verified", minimum=0.5, maximum=1.0),
    Option("train_margin", float, 0.04, "training goes on until validation accuracy reaches threshold + this (capped "
           "at 1), so that the test verdict keeps a margin on any machine", minimum=0.0, maximum=0.5),
    Option("max_epochs", int, 15, "training epochs at most", minimum=1, maximum=10_000),
    Option("lr", float, 1e-3, "Adam learning rate", minimum=1e-8, maximum=10.0),
    Option("batch", int, 64, "training batch size", minimum=1, maximum=100_000),
    RESTARTS,
    Option("cache_dir", str, "", "model cache folder (default $ATTRLAB_CACHE/models)", shapes_model=False),
)}


def training_option(name: str, default: Any = None, help: str | None = None, **fields: Any) -> Option:
    """The declared training option ``name`` with this environment's default (and help or bounds).

    Example:
        >>> training_option("lr", 2e-3).default, training_option("lr").help
        (0.002, 'Adam learning rate')
    """
    import dataclasses

    base = TRAINING_OPTIONS[name]
    changes = {**({"default": default} if default is not None else {}), **({"help": help} if help else {}), **fields}
    return dataclasses.replace(base, **changes)
