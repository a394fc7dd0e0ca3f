"""Models: the designed AttributionLab network (trained models arrive with later environments)."""
from .designed import DesignedColourCounter

__all__ = ["DesignedColourCounter"]
