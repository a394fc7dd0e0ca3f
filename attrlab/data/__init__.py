"""Data generators; each returns inputs together with the masks their ground truth is built from.

The colour-patch generator is imported on first use (it imports torch; the light modules here —
the text corpus, the image manipulations' names — are read by environment declarations)."""
__all__ = ["generate_colour_patches", "ColourPatchBatch", "paint", "PALETTE", "BACKGROUND"]


def __getattr__(name: str):
    if name in __all__:
        from . import colour_patches

        return getattr(colour_patches, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
