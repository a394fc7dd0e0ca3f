"""Data generators; each returns inputs together with the masks their ground truth is built from."""
from .colour_patches import BACKGROUND, PALETTE, ColourPatchBatch, generate_colour_patches, paint

__all__ = ["generate_colour_patches", "ColourPatchBatch", "paint", "PALETTE", "BACKGROUND"]
