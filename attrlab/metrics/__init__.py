"""Metrics: pure, vectorised functions on batches of maps and masks, one value per sample, each
declared once in the metric registry (:mod:`attrlab.metrics.registry`): ground-truth metrics
(mass, MAFL, IoU, precision/recall/F1) and automatic, ground-truth-free ones (deletion,
insertion, SRG, ROAD, faithfulness correlation, infidelity, sparseness, complexity, pointing
game; comprehensiveness/sufficiency for tokens)."""
from .bounds import binomial_tail, max_accuracy_without_manipulation, shapley_bound
from .mass import attribution_mass, mean_attribution, positive_share
from .overlap import (binarize_signed, box_blur, gaussian_blur, precision_recall_f1, signed_precision_recall_f1,
                      top_k_mask, topk_iou)
from .probe import Probe
from .reduce import DEFAULT_READING, READINGS, REDUCTIONS, check_reading, read_channels, reduce_channels
from .registry import (automatic_specs, better, describe_metric, direction, family, get_metric, list_metrics,
                       register_metric)

__all__ = [
    "attribution_mass", "mean_attribution", "positive_share", "topk_iou", "top_k_mask", "gaussian_blur", "box_blur",
    "precision_recall_f1", "signed_precision_recall_f1", "binarize_signed", "shapley_bound",
    "binomial_tail", "max_accuracy_without_manipulation", "reduce_channels", "REDUCTIONS",
    "read_channels", "READINGS", "DEFAULT_READING", "check_reading", "Probe", "register_metric",
    "list_metrics", "describe_metric", "get_metric", "direction", "better", "family", "automatic_specs",
]
