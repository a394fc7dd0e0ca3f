"""SMERF's seven reasoning settings as data (Kim et al. 2021, Table 1; sizes from Table 2).

Each setting maps the 12 TextBox buckets (ids as in :mod:`attrlab.data.textbox`) to a label
(0, 1, or ``None`` for an unlabelled bucket) and to the objects the attribution should focus on
and avoid. The rows below are Table 1 transcribed verbatim ("N" = no object); a test re-derives
every label from the table's "Reasoning" row. Where the paper's table is silent for a bucket
(e.g. nothing listed to avoid), nothing is avoided: the table, not our reading of it, is the spec.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import AttrlabError

NAMES = {"T": "text", "B1": "box1", "B2": "box2"}


def _ids(text: str) -> list[int]:
    return [int(t) for t in text.replace(" ", "").split(",") if t]


def _objects(cell: str) -> dict[int, tuple[str, ...]]:
    """Parse a Table 1 cell like ``"2,3,8,9: T | 4,5,6: B2"`` into bucket → object names."""
    out: dict[int, tuple[str, ...]] = {}
    for part in cell.split("|"):
        ids, objs = part.split(":")
        names = tuple(NAMES[o.strip()] for o in objs.split(",") if o.strip() != "N")
        for b in _ids(ids):
            out[b] = names
    return out


@dataclass(frozen=True)
class Setting:
    """One reasoning setting: labels per bucket, objects to focus on and to avoid, model kind,
    and the paper's training/validation images per bucket (per label where they differ)."""

    name: str
    kind: str  # "simple" or "complex": which of App. A.2's CNNs
    labels: dict
    focus: dict
    avoid: dict
    train_per_bucket: dict
    val_per_bucket: int

    @property
    def labelled_buckets(self) -> list[int]:
        return [b for b in range(1, 13) if self.labels[b] is not None]


def _setting(name, kind, zero, one, focus, avoid, train, val) -> Setting:
    labels = {b: None for b in range(1, 13)}
    for b in _ids(zero):
        labels[b] = 0
    for b in _ids(one):
        labels[b] = 1
    f, a = _objects(focus), _objects(avoid)
    labelled = [b for b in labels if labels[b] is not None]
    return Setting(name, kind, labels, {b: f.get(b, ()) for b in labelled}, {b: a.get(b, ()) for b in labelled},
                   train, val)


SETTINGS: dict[str, Setting] = {s.name: s for s in (
    _setting("simple-fr", "simple", "1,2,3,4,5,6", "7,8,9,10,11,12",
             "1,2,3,4,5,6: N | 7,8,9,10,11,12: B1",
             "1: N | 2,3,8,9: T | 4,10: B2 | 5,6,11,12: B2,T", {0: 2000, 1: 2000}, 500),
    _setting("simple-nr", "simple", "2,5,8,11", "3,6,9,12",
             "2,3,5,6,8,9,11,12: T",
             "2,3: N | 5,6: B2 | 8,9: B1 | 11,12: B1,B2", {0: 2000, 1: 2000}, 500),
    _setting("complex-fr", "complex", "1,2,3,4,5,6,7,8,9", "10,11,12",
             "1,2,3,4,5,6,7,8,9: N | 10,11,12: B1,B2",
             "1,4,7,10: N | 2,3,5,6,11,12: T", {0: 2000, 1: 6000}, 500),
    _setting("complex-cr1", "complex", "2,4,5,6,8", "3,9,10,11,12",
             "2,3,8,9: T | 4,5,6: B2 | 10,11,12: B1,B2",
             "2,3,4,10: N | 8,9: B1 | 5,6,11,12: T", {0: 15000, 1: 15000}, 400),
    _setting("complex-cr2", "complex", "2,5,7,8,9", "3,6,10,11,12",
             "2,3,5,6: T | 7,8,9: B1 | 10,11,12: B1,B2",
             "2,3,7,10: N | 5,6: B2 | 8,9,11,12: T", {0: 15000, 1: 15000}, 400),
    _setting("complex-cr3", "complex", "1,2,3,5,11", "6,7,8,9,12",
             "1,2,3: N | 5,6,11,12: B2,T | 7,8,9: B1",
             "1,5,6,7: N | 2,3,8,9: T | 11,12: B1", {0: 15000, 1: 15000}, 400),
    _setting("complex-cr4", "complex", "1,2,3,8,11", "4,5,6,9,12",
             "1,2,3: N | 4,5,6: B2 | 8,9,11,12: B1,T",
             "1,4,8,9: N | 2,3,5,6: T | 11,12: B2", {0: 15000, 1: 15000}, 400),
)}


def get_setting(name: str) -> Setting:
    """A setting by name (``simple-fr``, ``simple-nr``, ``complex-fr``, ``complex-cr1`` … ``cr4``).

    Example:
        >>> s = get_setting("complex-cr2")
        >>> s.labels[7], s.focus[7], s.avoid[8]
        (0, ('box1',), ('text',))
    """
    key = name.lower()
    if key not in SETTINGS:
        raise AttrlabError(f"unknown SMERF setting '{name}'; choose from {', '.join(SETTINGS)}")
    return SETTINGS[key]
