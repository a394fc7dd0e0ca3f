"""The meta-evaluation: agreement between automatic metrics and the ground truth, computed within
each model and aggregated over models, the oracle ladder, and `attrlab meta` end to end."""
import numpy as np
import pandas as pd
import pytest

from attrlab import meta


def _records(cells, methods, auto_of, samples=8, seed=0):
    """Records of ``cells`` models: each method's ground truth ``g`` (+ noise) and automatic values."""
    rng = np.random.default_rng(seed)
    rows = []
    for c in range(cells):
        for m, g in methods.items():
            for i in range(samples):
                gt = g + 0.02 * rng.standard_normal()
                for metric, f in auto_of.items():
                    rows.append(dict(environment="e", setting="s", model_id=f"m{c}", method=m, sample=i,
                                     metric=metric, value=f(gt, rng), status="ok", verified=True))
                rows.append(dict(environment="e", setting="s", model_id=f"m{c}", method=m, sample=i,
                                 metric="mass_focus", value=gt, status="ok", verified=True))
    return pd.DataFrame(rows)


METHODS = {"a": 0.9, "b": 0.7, "c": 0.5, "d": 0.3, "random": 0.1}


def test_a_metric_that_tracks_the_ground_truth_agrees_and_one_that_inverts_it_disagrees():
    records = _records(3, METHODS, {"deletion": lambda g, r: 1 - g,          # lower is better: tracks
                                    "insertion": lambda g, r: 1 - g,         # higher is better: inverted
                                    "sparseness": lambda g, r: r.random()})  # noise
    cells = meta.agreement(records, {"e": "mass_focus"})
    by = cells.groupby("metric")
    assert np.allclose(by.get_group("deletion")["tau"], 1) and np.allclose(by.get_group("insertion")["tau"], -1)
    assert (by.get_group("deletion")["regret"] == 0).all()
    assert by.get_group("insertion")["regret"].iloc[0] == pytest.approx(0.8, abs=0.05)  # picks 'random' (0.1)
    assert (by.get_group("deletion")["pairwise_accuracy"] == 1).all()
    assert (by.get_group("insertion")["pairwise_accuracy"] == 0).all()
    summary = meta.summarise(cells).set_index("metric")
    assert summary.loc["deletion", "cells"] == 3 and summary.loc["deletion", "tau"] == pytest.approx(1)
    assert abs(summary.loc["sparseness", "tau_without_controls"]) < 1


def test_controls_are_left_out_of_tau_without_controls():
    # the metric orders the real methods backwards but puts the random control last: τ with it looks fine
    records = _records(1, METHODS, {"deletion": lambda g, r: g if g > 0.2 else 1.0})
    row = meta.agreement(records, {"e": "mass_focus"}).iloc[0]
    assert row["tau_without_controls"] == pytest.approx(-1) and row["tau"] > row["tau_without_controls"]


def test_unverified_models_and_failed_rows_are_left_out():
    records = _records(2, METHODS, {"deletion": lambda g, r: 1 - g})
    records.loc[records["model_id"] == "m1", "verified"] = False
    assert set(meta.agreement(records, {"e": "mass_focus"})["model_id"]) == {"m0"}


def test_bootstrap_interval_brackets_the_mean_and_is_seeded():
    v = np.array([0.1, 0.5, 0.9, 0.3])
    m, lo, hi = meta.bootstrap_mean(v)
    assert lo <= m <= hi and meta.bootstrap_mean(v) == (m, lo, hi)
    assert np.isnan(meta.bootstrap_mean([0.4])[1])


def test_oracle_ladder_and_meta_on_a_real_run(tmp_path, capsys):
    from attrlab.cli import main

    out = tmp_path / "al"
    ladder = ",".join(f"oracle:noise={v}" for v in (0, 0.25, 0.5, 0.75, 1))
    assert main(["run", "attributionlab", "--set", "n_images=6", "--set", "size=32", "--settings", "no-redundant",
                 "--methods", f"gradient,integrated_gradients,occlusion,random,{ladder}", "--out", str(out),
                 "--no-progress"]) == 0
    records = pd.read_csv(out / "records.csv")
    ok = records[records["status"] == "ok"]
    f1 = ok[ok["metric"] == "positive_f1"].groupby("method")["value"].mean()
    assert f1["oracle:noise=0"] == 1.0 and f1["oracle:noise=1"] < 0.6  # the ground truth itself, then noise
    capsys.readouterr()
    assert main(["meta", str(out), "--out", str(tmp_path / "meta")]) == 0
    printed = capsys.readouterr().out
    assert "deletion" in printed and "τ (real methods)" in printed
    lad = pd.read_csv(tmp_path / "meta" / "metaeval_ladder.csv").set_index("metric")
    assert lad.loc["positive_f1", "rho"] == pytest.approx(-1)  # the ladder reads as it should on the ground truth
    assert (tmp_path / "meta" / "meta.html").exists() and (tmp_path / "meta" / "metaeval.csv").exists()


def test_meta_refuses_runs_without_automatic_metrics(tmp_path, capsys):
    from attrlab.cli import main

    out = tmp_path / "plain"
    assert main(["run", "attributionlab", "--set", "n_images=2", "--set", "size=32", "--methods", "gradient",
                 "--auto-metrics", "none", "--out", str(out), "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["meta", str(out)]) == 2
    assert "no automatic metrics" in capsys.readouterr().err
