"""Records of one small run per environment equal the pinned ones (tests/pinned/): a change of
structure must not change results. Trained environments start from pinned weights, so these
compare attribution and scoring on any CPU; training's reproducibility is tested on one machine
(tests/test_reliability.py)."""
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

sys.path.insert(0, str(Path(__file__).parent / "pinned"))
from pinned_runs import KEY, RUNS, TRAINED, pinned_run, weights_file  # noqa: E402

# Tolerance, measured. Every environment runs from fixed weights (AttributionLab's are set by hand;
# the trained ones load tests/pinned/<environment>.weights.pt), so what differs between machines is
# only float32 rounding in the attribution and scoring kernels. Measured against these pins with
# other kernels on one AMD EPYC: 2 threads instead of 1, 0 everywhere; oneDNN off, at most 2.2e-6
# (AttributionLab's mass_focus and completeness_gap); AttributionLab's previous pins, written on
# another CPU kind, agreed here to 1e-6 but for one top-K tie now broken by pixel index. 1e-5 keeps
# a 4x margin. A thresholded metric (top-K IoU, precision/recall/F1) jumps by a pixel's share when
# rounding swaps two values within 1e-6 of each other at its cut: one such value per environment is
# allowed, no more (none was measured).
TOLERANCE = 1e-5
CONTINUOUS = {"mass_focus", "mass_avoid", "mafl_focus", "mafl_avoid", "completeness_gap", "localisation"}
# the automatic metrics are areas, means and correlations of model outputs: continuous too, but for the
# pointing game (an argmax: a thresholded value). They were pinned with the ground-truth values unchanged
# (≤ 1.2e-7 from the pins written before they existed).
AUTOMATIC = {"deletion", "deletion:substrate=true", "insertion", "srg", "infidelity", "sparseness", "complexity",
             "comprehensiveness", "sufficiency", "confidence"}
CONTINUOUS |= AUTOMATIC
# areas over a pixel ordering (deletion, insertion, SRG = LeRF − MoRF area): rounding that swaps two
# nearly equal pixels across a step boundary moves the curve by what one pixel changes. Measured:
# SRG of the grid's pins moved by up to 3.3e-5 on four records (Grad-CAM, LayerCAM maps, whose
# upsampled cells are nearly flat) on an AMD EPYC other than the one that wrote them; every other
# metric stayed within 1.5e-6. 1e-4 keeps a 3x margin over that.
ORDERING = {"deletion", "deletion:substrate=true", "insertion", "srg"}
ORDERING_TOLERANCE = 1e-4


@pytest.mark.parametrize("environment", sorted(RUNS))
def test_small_run_records_equal_the_pinned_ones(environment, tmp_path):
    pinned = pd.read_csv(Path(__file__).parent / "pinned" / f"{environment}.csv", keep_default_na=False,
                         na_values=["nan", "NaN", ""])
    got = pinned_run(environment, tmp_path)
    assert list(got[KEY].astype(str).itertuples(index=False)) == list(pinned[KEY].astype(str).itertuples(index=False))
    assert list(got["verified"]) == list(pinned["verified"]) and list(got["status"]) == list(pinned["status"])
    groups = sorted(c for c in pinned.columns if c.startswith("group_"))
    assert groups == sorted(c for c in got.columns if c.startswith("group_"))
    continuous = got["metric"].isin(CONTINUOUS).to_numpy()
    ordering = got["metric"].isin(ORDERING).to_numpy()
    np.testing.assert_allclose(got.loc[continuous & ~ordering, "value"], pinned.loc[continuous & ~ordering, "value"],
                               atol=TOLERANCE, rtol=0)
    np.testing.assert_allclose(got.loc[ordering, "value"], pinned.loc[ordering, "value"], atol=ORDERING_TOLERANCE,
                               rtol=0)
    a, b = got.loc[~continuous, "value"].to_numpy(float), pinned.loc[~continuous, "value"].to_numpy(float)
    moved = ~((np.isnan(a) & np.isnan(b)) | (np.abs(a - b) <= TOLERANCE))
    assert moved.sum() <= 1, got.loc[~continuous].loc[moved, KEY + ["value"]].assign(pinned=b[moved]).to_string()


def test_pinned_weights_are_plain_tensors_and_every_trained_run_has_them():
    from attrlab.storage import load_tensors

    for environment in TRAINED:
        bundle = load_tensors(weights_file(environment))["models"]  # weights_only=True: no code runs
        assert bundle and all(set(entry) == {"model", "extras", "record"} for entry in bundle.values())
