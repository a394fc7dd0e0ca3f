"""SMERF end to end on a small setting: train, verify per bucket, cache, ground truth."""
import pytest
import torch

from attrlab import build_environment
from attrlab.environments import smerf
from attrlab.errors import AttrlabError

SMALL = dict(train_scale=0.0, min_train=60, val_per_bucket=30, test_per_bucket=2, max_epochs=12)


@pytest.fixture(scope="module")
def env_and_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("models")
    torch.set_num_threads(2)
    env = build_environment("smerf", seed=0, settings=["simple-fr"], cache_dir=cache, progress=False, **SMALL)
    return env, cache


def test_simple_fr_trains_to_verified_and_reports_every_bucket(env_and_cache):
    env, _ = env_and_cache
    verification = env.verification.settings["simple-fr"]
    assert verification.passed is True, verification
    record = verification.details
    assert sorted(record["accuracy_by_group"]) == list(range(1, 13))
    assert all(acc >= 0.95 for acc in record["accuracy_by_group"].values())
    ev = env.eval_sets[0]
    with torch.no_grad():
        assert torch.equal(ev.model(ev.inputs).argmax(1), ev.targets)


def test_ground_truth_follows_table1(env_and_cache):
    env, _ = env_and_cache
    ev = env.eval_sets[0]
    gt = ev.ground_truth
    for i, bucket in enumerate(gt.facts["bucket"]):
        has_box1 = bucket >= 7
        assert bool(gt.focus[i].any()) == has_box1          # Simple-FR focuses on Box1 when present
        assert int(gt.focus[i].sum()) == (100 if has_box1 else 0)
        assert not (gt.focus[i] & gt.avoid[i]).any()
    assert ev.targets.tolist() == [int(b >= 7) for b in gt.facts["bucket"]]


def test_second_build_uses_the_cached_model(env_and_cache):
    env, cache = env_and_cache
    again = build_environment("smerf", seed=0, settings=["simple-fr"], cache_dir=cache, progress=False, **SMALL)
    assert again.verification.settings["simple-fr"].details["cached"] is True
    a, b = env.eval_sets[0].model, again.eval_sets[0].model
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))


def test_bad_smerf_options(tmp_path):
    with pytest.raises(AttrlabError, match="unknown smerf setting"):
        build_environment("smerf", settings=["simple-xx"], cache_dir=tmp_path)
    with pytest.raises(AttrlabError, match="background='white' is not allowed; choose one of black"):
        build_environment("smerf", background="white", cache_dir=tmp_path)
    with pytest.raises(AttrlabError, match="unknown smerf option 'n_images'"):
        build_environment("smerf", n_images=3, cache_dir=tmp_path)


def test_quick_sizes_keep_table2_ratios(tmp_path, monkeypatch):
    seen = {}

    real = smerf._data

    def fake_data(setting, per_bucket, seed, background, photos, **kw):
        seen.setdefault(setting.name, []).append(dict(per_bucket))
        if len(seen[setting.name]) == 2:  # the validation set first, then the training set
            raise StopIteration  # stop before any training
        return real(setting, {0: 1, 1: 1}, seed, background, photos, **kw)

    monkeypatch.setattr(smerf, "_data", fake_data)
    for name in ("complex-fr", "complex-cr1", "simple-fr"):
        with pytest.raises(StopIteration):
            build_environment("smerf", settings=[name], cache_dir=tmp_path, progress=False)
    assert seen["complex-fr"][1] == {0: 200, 1: 600}
    assert seen["complex-cr1"][1] == {0: 510, 1: 510}
    assert seen["simple-fr"][1] == {0: 200, 1: 200}


def test_run_writes_the_papers_bucket_views(env_and_cache, tmp_path):
    from attrlab.report.figures import load_shown
    from attrlab.runner import RunConfig, run

    _, cache = env_and_cache
    out = run(RunConfig(environment="smerf", settings=["simple-fr"], methods=["gradient", "random"], out_dir=tmp_path,
                        batch_size=8, options={**SMALL, "cache_dir": cache}, progress=False))
    inputs, maps = load_shown(out / "maps", "simple-fr")
    # one shown sample per bucket (12 buckets, 2 test images each), every method's map of each
    assert sorted(set(inputs["facts"]["bucket"])) == list(range(1, 13))
    assert set(maps) == {"gradient", "random"}
    assert all(set(m) == set(inputs["samples"]) for m in maps.values())
    figs = {p.name for p in (out / "figures").iterdir()}
    assert {"afl_bars.png", "pafl_by_objects.png", "worst_bucket_simple-fr.png", "buckets_worst_pafl.png"} <= figs
    html = (out / "report.html").read_text()
    assert "worst bucket" in html and html.count("<img") >= 6


def test_every_paper_method_maps_to_a_registered_method_or_says_why():
    from attrlab.methods import get_method

    from attrlab.environments import smerf_spec

    for name, spec in smerf_spec.PAPER_METHODS.items():
        if spec is None:
            assert smerf_spec.REASONS[name]
        else:
            assert get_method(spec).label == spec
