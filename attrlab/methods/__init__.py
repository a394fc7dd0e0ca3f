"""Attribution methods: a registry of configured methods over Captum, zennit and scikit-image.

Example:
    >>> from attrlab.methods import get_method, list_methods
    >>> "lime" in list_methods()
    True
"""
from .registry import BoundMethod, attribute, describe, get_method, list_methods, parse_spec, register

__all__ = ["get_method", "list_methods", "describe", "register", "parse_spec", "attribute", "BoundMethod"]
