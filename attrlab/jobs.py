"""A study's plan as data: units (an environment at one seed and one grid point), the jobs that
train their models and attribute with them, and the plan that holds both. :mod:`attrlab.study`
makes plans; :mod:`attrlab.executors` runs them: both read these types, neither imports the other's
code for them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Unit:
    """One environment at one seed and one grid point: one run folder ``units/<name>``."""

    name: str
    environment: str
    preset: str
    seed: int
    settings: tuple[str, ...] | None
    methods: tuple[str, ...] | None
    options: dict
    grid: dict
    auto_metrics: tuple = ("default",)

    @property
    def key(self) -> dict:
        return {"environment": self.environment, "preset": self.preset, "seed": self.seed,
                "settings": self.settings, "methods": self.methods, "options": self.options}


@dataclass(frozen=True)
class Job:
    """A training job (``setting``: the one it trains, None: all of the unit's) or an attribution
    job (``kind == "attribute"``); ``id`` is a content hash, ``deps`` the ids it waits for."""

    id: str
    kind: str
    unit: Unit
    setting: str | None = None
    deps: tuple[str, ...] = ()


@dataclass
class Plan:
    study: Any  # the Study it plans (attrlab.study.Study)
    units: list[Unit]
    jobs: list[Job]

    @property
    def training(self) -> list[Job]:
        return [j for j in self.jobs if j.kind == "train"]
