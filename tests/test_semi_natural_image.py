"""Semi-natural images (Zhou et al. 2022): manipulations and their effective regions, label
reassignment, verification bounds, the class-folder loader, and a tiny end-to-end run."""
import numpy as np
import pytest
import torch
from PIL import Image

from attrlab.data.manipulations import NAMES, VISIBILITY, Manipulation, random_manipulation
from attrlab.data.natural import embedded_pair, load_class_folder
from attrlab.data.reassignment import empirical_matrix, reassign, reassignment_matrix
from attrlab.environments import semi_natural_image as sni
from attrlab.environments.semi_natural_plan import plan
from attrlab.errors import AttrlabError


def _photo(side=48, seed=0):
    return embedded_pair(("chelsea", "coffee"), side, (1, 1, 1), seed)["train"][0][0]


@pytest.mark.parametrize("name", NAMES)
def test_manipulation_changes_only_its_effective_region(name):
    img = _photo()
    for seed in range(3):
        m = random_manipulation(name, np.random.default_rng(seed))
        out, er = m.apply(img, np.random.default_rng(seed))
        changed = (out != img).any(2)
        assert changed.any(), name
        assert not (changed & ~er).any(), f"{name} changed pixels outside its ER"
        assert np.array_equal(er, m.region(img.shape[0]))  # the ER is image-independent


@pytest.mark.parametrize("name", NAMES)
def test_visibility_never_changes_the_effective_region(name):
    base = random_manipulation(name, np.random.default_rng(1))
    regions = [base.with_visibility(level).region(64) for level in VISIBILITY[name][1]]
    assert all(np.array_equal(regions[0], r) for r in regions[1:])
    assert 0 < regions[0].mean() < 1


def test_effective_region_is_the_bounding_region_of_the_changes():
    img = np.full((40, 40, 3), 0.5, np.float32)
    # with every pixel replaced, the noise stripe's changed pixels are exactly its rows
    out, er = Manipulation("noise", {"top": 0.25, "bottom": 0.5, "p": 1.0}).apply(img, np.random.default_rng(0))
    assert np.array_equal((out != img).any(2), er)
    rows = np.flatnonzero(er.any(1))
    assert (rows.min(), rows.max()) == (10, 20)
    # the watermark's text lies inside its box, and the box is its ER
    wm = Manipulation("watermark", {"top": 0.5, "bottom": 0.9, "left": 0.1, "right": 0.9, "font": 40})
    out, er = wm.apply(img, np.random.default_rng(0))
    changed = (out != img).any(2)
    r, c = np.where(changed)
    assert er[r.min():r.max() + 1, c.min():c.max() + 1].all()
    # brightness dims the centre most; blur leaves the inner disc alone
    out, er = Manipulation("brightness").apply(_photo(), np.random.default_rng(0))
    assert out[24, 24].sum() < _photo()[24, 24].sum() and not er[0, 0] and er[24, 24]


def test_bad_manipulations_are_refused():
    with pytest.raises(AttrlabError, match="unknown manipulation"):
        Manipulation("sepia")
    with pytest.raises(AttrlabError, match="no parameter"):
        Manipulation("blur", {"size": 3})
    with pytest.raises(AttrlabError, match="empty"):
        Manipulation("noise", {"top": 0.6, "bottom": 0.5}).region(32)


def test_reassignment_statistics():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 20000)
    for r in (0.5, 0.7, 1.0):
        new = reassign(y, reassignment_matrix(r), rng)
        assert np.abs(empirical_matrix(y, new) - reassignment_matrix(r)).max() < 0.015
    R = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.0, 0.1, 0.9]])
    y3 = np.repeat([0, 1, 2], 20000)
    assert np.abs(empirical_matrix(y3, reassign(y3, R, rng), 3) - R).max() < 0.015
    assert np.array_equal(reassign(y, reassignment_matrix(0.0), rng), 1 - y)
    with pytest.raises(AttrlabError, match="row-stochastic"):
        reassign(y, [[0.5, 0.6], [0.5, 0.5]], rng)


def test_verification_uses_p_star_and_the_binomial_tail():
    assert sni.verify(0.97, 200, 0.5, 0.95, 0.01)["passed"]
    assert not sni.verify(0.90, 200, 0.5, 0.95, 0.01)["passed"]          # below the accuracy threshold
    v = sni.verify(0.96, 200, 0.9, 0.95, 0.01)                          # p* = 0.9: 0.96 on 200 is significant
    assert v["passed"] and v["p_star"] == 0.9 and v["binomial_tail"] < 0.01
    assert not sni.verify(0.96, 25, 0.9, 0.95, 0.01)["passed"]           # …but not on 25 images
    assert not sni.verify(1.0, 200, 1.0, 0.95, 0.01)["passed"]           # r = 1: use of the manipulation unprovable
    assert sni.verify(1.0, 200, 0.7, 0.95, 0.01)["shapley_bound"] == pytest.approx(0.8)


def test_class_folder_loader_splits_deterministically(tmp_path):
    for c in ("tern", "crow", "empty"):
        (tmp_path / c).mkdir()
    for c in ("tern", "crow"):
        for k in range(9):
            Image.new("RGB", (40, 30), (k * 20, 0, 0)).save(tmp_path / c / f"{k}.jpg")
    a = load_class_folder(tmp_path, 16, ("crow", "tern"), sizes=(5, 2, 2), seed=3)
    b = load_class_folder(tmp_path, 16, ("crow", "tern"), sizes=(5, 2, 2), seed=3)
    assert [a[s][0].shape[0] for s in ("train", "val", "test")] == [5, 2, 2]
    assert a["train"][0].shape[1:] == (16, 16, 3)
    assert all(np.array_equal(a[s][k], b[s][k]) for s in a for k in (0, 1))
    with pytest.raises(AttrlabError, match="pick two classes"):
        load_class_folder(tmp_path, 16, ("crow", "empty"))
    with pytest.raises(AttrlabError, match="does not exist"):
        load_class_folder(tmp_path / "nope", 16)


TINY = dict(side=32, train=120, val=30, test=60, eval_per_class=3, max_epochs=3)


def test_tiny_run_trains_verifies_and_scores_attr_percent(tmp_path):
    from attrlab.runner import RunConfig, run

    torch.set_num_threads(2)
    out = run(RunConfig(environment="semi-natural-image", methods=["gradient", "random"], out_dir=tmp_path / "run",
                        options={**TINY, "manipulation": "noise", "cache_dir": tmp_path / "cache"}, progress=False))
    import json

    import pandas as pd

    ver = json.loads((out / "verification.json").read_text())["settings"]["noise"]
    assert ver["p_star"] == 0.5 and len(ver["accuracy_by_epoch"]) == ver["epochs"]
    assert 0 < ver["er_fraction"] < 1
    rec = pd.read_csv(out / "records.csv")
    attr = rec[rec["metric"] == "mass_focus"]
    assert len(attr) == 2 * 6 and set(attr["group_manipulated"]) == {0, 1}
    rand = attr[attr["method"] == "random"]["value"].mean()
    assert abs(rand - ver["er_fraction"]) < 0.1  # a random map puts %ER of its mass on the ER
    assert (out / "figures" / "attr_vs_er.png").exists()
    assert "Attr% of the joint effective region" in (out / "report.html").read_text()


def test_experiments_plan_the_papers_runs():
    cfg = {"runs": 2}
    assert len(plan("er", cfg, 0)) == 10
    corr = plan("correlation", cfg, 0, ["watermark"])
    assert sorted({run.r for run in corr}) == [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert {run.pair_kind for run in corr} == {"similar", "distinct"}
    assert all(run.checkpoints for run in plan("accuracy", cfg, 0))
    with pytest.raises(AttrlabError, match="unknown experiment"):
        plan("size", cfg, 0)


def _records(rows):
    import pandas as pd

    base = {"environment": "semi-natural-image", "seed": 0, "model_id": "m", "status": "ok", "error": "",
            "verified": True, "metric": "mass_focus", "group_manipulation": "noise", "group_er_fraction": 0.2,
            "group_r": 0.5, "group_visibility": 0.02, "group_pair": "similar", "group_epoch": -1,
            "group_test_accuracy": 1.0, "group_correct": 1}
    return pd.DataFrame([{**base, **r} for r in rows])


def test_each_experiment_gets_its_figure(tmp_path):
    from attrlab.environments import semi_natural_image_report as attr_percent

    rows = []
    runs = [(0.02, 0.5, -1, 1.0), (0.06, 0.7, -1, 1.0), (0.1, 0.9, -1, 1.0), (0.02, 0.5, 1, 0.6), (0.02, 0.5, 2, 0.9)]
    for k, (vis, r, epoch, acc) in enumerate(runs):
        for manipulated in (0, 1):
            rows.append({"setting": f"noise-{k}", "method": "gradient", "sample": manipulated, "value": 0.3 + 0.1 * k,
                         "group_manipulated": manipulated, "group_visibility": vis, "group_r": r,
                         "group_epoch": epoch, "group_test_accuracy": acc})
    records = _records(rows)
    names = {p.name for p in attr_percent.views(records, tmp_path)}
    assert names == {"attr_vs_er.png", "attr_vs_accuracy.png", "attr_vs_visibility.png", "attr_vs_r.png"}
    summary = attr_percent.attr_summary(records)
    assert summary.loc["%ER (random map)"].tolist() == pytest.approx([0.2, 0.2])
    # one run, one value of each fact: only the %ER scatter applies
    single = records[records["setting"] == "noise-0"]
    (tmp_path / "one").mkdir()
    assert {p.name for p in attr_percent.views(single, tmp_path / "one")} == {"attr_vs_er.png"}


def test_resnet34_is_the_papers_backbone_behind_normalisation():
    from attrlab.methods import get_method
    from attrlab.models.classifiers import build_classifier

    torch.manual_seed(0)
    model = build_classifier("resnet34").eval()
    x = torch.rand(2, 3, 64, 64)
    assert model(x).shape == (2, 2)
    assert sum(p.numel() for p in model.parameters()) > 21_000_000  # ResNet-34, randomly initialised
    cam = get_method("gradcam")(model, x, torch.tensor([0, 1]))      # Grad-CAM on layer4 = CAM
    assert cam.shape == x.shape
    with pytest.raises(AttrlabError, match="unknown classifier"):
        build_classifier("vgg")


def test_environment_report_views_carry_95_percent_intervals():
    import pandas as pd

    from attrlab.environments import semi_natural_image_report as attr_percent
    from attrlab.environments.smerf_report import bucket_table_ci

    rows = [{"setting": "noise", "method": "gradient", "sample": i, "value": v, "group_manipulated": 1}
            for i, v in enumerate([0.2, 0.4, 0.6, 0.8])]
    t = attr_percent.attr_table(_records(rows))
    assert t["attr"].tolist() == pytest.approx([0.5])
    assert 0.2 <= t["attr_low"].iloc[0] < 0.5 < t["attr_high"].iloc[0] <= 0.8  # bootstrap of 4 samples
    smerf = pd.DataFrame({"status": "ok", "setting": "simple-fr", "method": "gradient", "group_bucket": 3,
                          "sample": [0, 1, 0, 1], "metric": ["mass_focus"] * 2 + ["mass_avoid"] * 2,
                          "value": [0.6, 0.8, 0.1, 0.1]})
    shown = bucket_table_ci(smerf)
    assert shown.loc[("simple-fr", "gradient", 3), "PAFL"].startswith("0.700 [0.600, 0.800] n=2")
    assert shown.loc[("simple-fr", "gradient", 3), "SAFL"] == "0.100 [0.100, 0.100] n=2"
