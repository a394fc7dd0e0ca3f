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
    # regret among real methods: the inverted metric picks 'd' (0.3) over 'a' (0.9); the control is no choice
    assert by.get_group("insertion")["regret"].iloc[0] == pytest.approx(0.6, abs=0.05)
    assert (by.get_group("deletion")["pairwise_accuracy"] == 1).all()
    assert (by.get_group("insertion")["pairwise_accuracy"] == 0).all()
    # per sample, a lower-is-better metric that follows the ground truth correlates positively once aligned
    assert (by.get_group("deletion")["per_sample_rho"] > 0.9).all()
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


LADDER = [f"oracle:noise={v}" for v in (0, 0.25, 0.5, 0.75, 1)]


@pytest.mark.parametrize("environment", ["attributionlab", "smerf", "semi-natural-image", "text-attention",
                                         "text-rationale"])
def test_the_oracle_ranks_first_and_its_ladder_is_monotone_under_every_ground_truth_metric(environment, tmp_path):
    import contextlib
    import os
    import sys
    from pathlib import Path

    import torch

    sys.path.insert(0, str(Path(__file__).parent / "pinned"))
    from pinned_runs import RUNS, TRAINED, weights_file

    from attrlab.environments import get_environment
    from attrlab.environments.trained import pinned_models
    from attrlab.evaluation import MetricConfig
    from attrlab.metrics import direction, family
    from attrlab.runner import RunConfig, default_methods, run

    methods, settings, options = RUNS[environment]  # the pinned runs' small configurations and weights
    if environment == "smerf":  # the authors' protocol blurs maps first: see the next test
        options = {**options, "metric_protocol": "attrlab"}
    os.environ["ATTRLAB_CACHE"] = str(tmp_path / "cache")
    torch.set_num_threads(1)
    spec = get_environment(environment).spec
    methods = [m for m in (methods or default_methods(spec)) if m != "random"] + ["random"] + LADDER
    weights = pinned_models(weights_file(environment)) if environment in TRAINED else contextlib.nullcontext()
    with weights:
        out = run(RunConfig(environment=environment, out_dir=tmp_path / "run", methods=methods, settings=settings,
                            options=dict(options), progress=False, report=False, batch_size=4,
                            metrics=MetricConfig(automatic="none")))
    records = pd.read_csv(out / "records.csv")
    ok = records[(records["status"] == "ok") & records["metric"].map(lambda m: family(m) == "ground truth")]
    means = ok.groupby(["setting", "metric", "method"])["value"].mean()
    bad = []
    for (setting, metric), per in means.groupby(level=["setting", "metric"]):
        per = per.droplevel([0, 1])
        if per.isna().all():
            continue
        aligned = -per if direction(metric) == "lower" else per
        others = aligned.drop(index=[m for m in aligned.index if m.startswith("oracle")])
        # ranks first (ties allowed): no method beats the ground truth itself
        if not aligned["oracle:noise=0"] >= others.max() - 1e-6:
            bad.append(("first", setting, metric, round(float(aligned["oracle:noise=0"]), 3), others.idxmax(), round(float(others.max()), 3)))
        ladder = aligned[LADDER].to_numpy(float)
        # monotone: more noise never scores better (2 points of slack for a thresholded metric on 2-8 samples)
        if not np.all(np.diff(ladder) <= 0.02):
            bad.append(("monotone", setting, metric, np.round(ladder, 3).tolist()))
    assert not bad, bad


def test_smerfs_own_protocol_scores_the_exact_ground_truth_below_full_marks(tmp_path):
    """A finding, pinned: SMERF's metric protocol (the authors' 7×7 box blur, then min-max) spreads
    even the exact ground-truth map over the objects' surroundings, so its PAFL is 0.68 and its IoU
    0.79 on the pinned Simple-FR run, below input×gradient's 0.70 and 0.83. No model is involved
    (the oracle reads the masks), so the values hold on any CPU."""
    from attrlab.evaluation import MetricConfig
    from attrlab.runner import RunConfig, run

    options = {"train_scale": 0.0, "min_train": 60, "val_per_bucket": 20, "test_per_bucket": 1, "max_epochs": 3}
    rows = []
    for protocol in ("smerf", "attrlab"):
        out = run(RunConfig(environment="smerf", out_dir=tmp_path / protocol, methods=["oracle:noise=0"],
                            settings=["simple-fr"], options={**options, "metric_protocol": protocol}, progress=False,
                            report=False, metrics=MetricConfig(automatic="none")))
        r = pd.read_csv(out / "records.csv")
        rows.append(r[r["metric"].isin(["mass_focus", "iou_focus"])].groupby("metric")["value"].mean())
    smerf, attrlab = rows
    assert smerf["mass_focus"] < 0.75 and smerf["iou_focus"] < 0.85
    assert attrlab["mass_focus"] == pytest.approx(1.0) and attrlab["iou_focus"] == pytest.approx(1.0)


def _user_material(tmp_path):
    import torch
    from PIL import Image

    images = tmp_path / "imgs"
    for k, name in enumerate(("cat", "dog")):
        (images / name).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (24, 20), (60 * i, 100 * k, 30)).save(images / name / f"{i}.png")
    (tmp_path / "net.py").write_text(
        "import torch\n"
        "class Net(torch.nn.Module):\n"
        "    def __init__(self, input_shape, n_classes):\n"
        "        super().__init__()\n"
        "        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)\n"
        "        self.head = torch.nn.Linear(4, n_classes)\n"
        "    def forward(self, x):\n"
        "        return self.head(torch.relu(self.conv(x)).mean((2, 3)))\n")
    import importlib.util

    spec = importlib.util.spec_from_file_location("user_net", tmp_path / "net.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    torch.manual_seed(0)
    torch.save(module.Net((3, 16, 16), 2).state_dict(), tmp_path / "net.pt")
    torch.save(module.Net((3, 16, 16), 3).state_dict(), tmp_path / "wrong.pt")
    (tmp_path / "mine.py").write_text("def peak(model, inputs, targets, attributions):\n"
                                      "    return attributions.abs().flatten(1).amax(1)\n"
                                      "peak.direction = 'higher'\n")
    pd.DataFrame([{"environment": "smerf", "metric": "deletion", "tau_without_controls": 0.42,
                   "tau_without_controls_low": 0.2, "tau_without_controls_high": 0.6}]).to_csv(
        tmp_path / "metaeval.csv", index=False)
    return images


def test_evaluate_runs_the_automatic_metrics_on_a_users_model_and_says_how_far_to_trust_each(tmp_path, capsys):
    from attrlab.cli import main

    images = _user_material(tmp_path)
    args = ["evaluate", "--model", f"{tmp_path / 'net.py'}:Net", "--images", str(images), "--side", "16",
            "--methods", "gradient,random", "--trust", str(tmp_path / "metaeval.csv"), "--out", str(tmp_path / "ev"),
            "--auto-metrics", f"+{tmp_path / 'mine.py'}:peak",
            "--no-progress"]
    assert main(args + ["--weights", str(tmp_path / "net.pt")]) == 0
    printed = capsys.readouterr().out
    assert "deletion ↓: smerf τ +0.42 [+0.20, +0.60]" in printed and "insertion ↑: not meta-evaluated" in printed
    table = pd.read_csv(tmp_path / "ev" / "evaluate.csv", index_col=0)
    assert {"gradient", "random"} == set(table.index)
    assert {"deletion", "sparseness", "confidence", "peak"} <= set(table.columns)
    page = (tmp_path / "ev" / "evaluate.html").read_text()  # the table, the trust lines, the maps
    assert "deletion ↓" in page and "smerf τ +0.42 [+0.20, +0.60]" in page and "<img" in page
    assert "report: " in printed and (tmp_path / "ev" / "evaluate_maps.png").stat().st_size > 0
    assert main(args + ["--weights", str(tmp_path / "wrong.pt")]) == 2
    assert "does not fit" in capsys.readouterr().err


def _text_material(tmp_path):
    """A corpus where half the documents hold 'good', a vocabulary, and a bag-of-embeddings model
    whose class-1 logit is 5 × the count of 'good' (weights set by hand, saved as a state dict)."""
    import torch

    docs = [("the beer is good and the head is thin" if k % 2 else "the beer is flat and the head is thin")
            + f" day {k}" for k in range(8)]
    (tmp_path / "corpus.txt").write_text("\n".join(docs) + "\n")
    words = sorted({w for d in docs for w in d.split()})
    (tmp_path / "vocab.txt").write_text("\n".join(["<pad>", "<unk>"] + words) + "\n")
    (tmp_path / "textnet.py").write_text(
        "import torch\n"
        "class TextNet(torch.nn.Module):\n"
        "    def __init__(self, vocab_size, n_classes):\n"
        "        super().__init__()\n"
        "        self.emb = torch.nn.Embedding(vocab_size, 1, padding_idx=0)\n"
        "        self.fc = torch.nn.Linear(1, n_classes)\n"
        "    def forward(self, ids):\n"
        "        return self.fc(self.emb(ids).sum(1))\n")
    good = 2 + words.index("good")
    emb = torch.zeros(2 + len(words), 1)
    emb[good] = 5.0
    torch.save({"emb.weight": emb, "fc.weight": torch.tensor([[-1.0], [1.0]]), "fc.bias": torch.tensor([2.5, -2.5])},
               tmp_path / "textnet.pt")
    return tmp_path / "corpus.txt"


def test_evaluate_runs_on_a_users_text_model_and_corpus_with_trust_read_from_text_environments(tmp_path, capsys):
    from attrlab.cli import main

    corpus = _text_material(tmp_path)
    args = ["evaluate", "--model", f"{tmp_path / 'textnet.py'}:TextNet", "--weights", str(tmp_path / "textnet.pt"),
            "--corpus", str(corpus), "--out", str(tmp_path / "ev"), "--no-progress"]
    assert main(args + ["--vocab", str(tmp_path / "vocab.txt")]) == 0
    printed = capsys.readouterr()
    assert "comprehensiveness ↑: text-attention τ" in printed.out
    assert "complexity ↓: text-attention τ" in printed.out and "smerf" not in printed.out  # text trust only
    page = (tmp_path / "ev" / "evaluate.html").read_text()  # the table and trust lines; no image gallery for text
    assert "comprehensiveness ↑" in page and "<img" not in page
    table = pd.read_csv(tmp_path / "ev" / "evaluate.csv", index_col=0)
    # the default text methods the model offers (no .attention: attention and rollout left out, quietly)
    assert set(table.index) == {"embedding_gradient", "embedding_ig", "random"}
    # embedding IG puts the map on 'good', the only word the model reads: deleting the top tokens
    # removes the evidence (comprehensiveness), keeping them keeps it (sufficiency near 0)
    assert table.loc["embedding_ig", "comprehensiveness"] > table.loc["random", "comprehensiveness"] + 0.1
    assert table.loc["embedding_ig", "sufficiency"] < table.loc["random", "sufficiency"]
    assert main(args) == 2  # a text model without its vocabulary
    assert "--vocab" in capsys.readouterr().err
    assert main(args + ["--vocab", str(tmp_path / "vocab.txt"), "--methods", "attention"]) == 2
    assert "no method applies" in capsys.readouterr().err


def test_evaluate_reads_a_hugging_face_checkpoint_with_its_tokenizer(tmp_path, capsys):
    pytest.importorskip("transformers")
    from attrlab.cli import main
    from attrlab.data.text import tokenize
    from attrlab.models.transformer import bert_small

    corpus = _text_material(tmp_path)
    model = bert_small([tokenize(line) for line in corpus.read_text().splitlines()], 2, hidden=8, layers=1, heads=1,
                       vocab_size=60)
    model.hf.save_pretrained(tmp_path / "ck")
    model.tokenizer.save_pretrained(tmp_path / "ck")
    args = ["evaluate", "--model", f"hf:{tmp_path / 'ck'}", "--corpus", str(corpus), "--out", str(tmp_path / "ev"),
            "--methods", "attention,embedding_ig,random", "--no-progress"]
    assert main(args) == 0
    table = pd.read_csv(tmp_path / "ev" / "evaluate.csv", index_col=0)
    assert set(table.index) == {"attention", "embedding_ig", "random"}
    import torch

    torch.save(model.hf.state_dict(), tmp_path / "hf.pt")  # --weights: the checkpoint's own state dict
    assert main(args + ["--weights", str(tmp_path / "hf.pt")]) == 0
    assert main(args + ["--vocab", str(tmp_path / "vocab.txt")]) == 2
    assert "brings its tokenizer" in capsys.readouterr().err
