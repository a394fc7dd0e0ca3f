"""Automatic (ground-truth-free) metrics: each equals an independent reference on small fixtures,
a sample's value never depends on its batch, degenerate maps are counted, and the run records
them (or a metric's failure) beside the ground-truth metrics."""
import numpy as np
import pandas as pd
import pytest
import torch

from attrlab.evaluation import score_automatic
from attrlab.metrics import Probe, automatic_specs, describe_metric, get_metric, list_metrics
from attrlab.metrics.faithfulness import faithfulness_correlation_of
from attrlab.metrics import probe as probe_module
from attrlab.metrics import faithfulness as faithfulness_module
from attrlab.metrics import parallel
from attrlab.metrics.faithfulness import random_subsets
from attrlab.metrics.sorting import sort_rows, stable_order
from attrlab.metrics.road import STENCIL, _Stencil, linear_impute
from attrlab.metrics.text_faithfulness import close_up
from attrlab.errors import AttrlabError
from attrlab.methods import get_method


def _cnn(channels=3, classes=3, seed=0):
    torch.manual_seed(seed)
    return torch.nn.Sequential(torch.nn.Conv2d(channels, 4, 3, padding=1), torch.nn.ReLU(),
                               torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten(),
                               torch.nn.Linear(16, classes)).eval()


def _fixture(n=8, channels=3, side=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, channels, side, side, generator=g)
    x[:, :, 0, 0] = 0.0  # every sample's minimum is 0: Quantus' "black" baseline is then the zeros we use
    a = torch.randn(n, channels, side, side, generator=g)
    return x, a, torch.arange(n) % 3


class _Linear(torch.nn.Module):
    """logit_0 = Σ w·x, logit_1 = 0: probabilities and areas computable by hand."""

    def __init__(self, w):
        super().__init__()
        self.w = w

    def forward(self, x):
        z = (x.flatten(1) * self.w.flatten()).sum(1)
        return torch.stack([z, torch.zeros_like(z)], 1)


def test_deletion_and_insertion_areas_equal_the_hand_computed_ones():
    # 4 pixels, relevance 4 > 3 > 2 > 1; the logit is the sum of the kept pixel values (1 each)
    x = torch.ones(1, 1, 2, 2)
    a = torch.tensor([[[[4.0, 3.0], [2.0, 1.0]]]])
    probe = Probe(_Linear(torch.ones(4)), x, torch.tensor([0]), a)
    logits = torch.tensor([4.0, 3.0, 2.0, 1.0, 0.0])                  # deleting one pixel per step
    p = torch.sigmoid(logits)                                          # softmax of (z, 0)
    expected = ((p[0] / 2 + p[1:4].sum() + p[4] / 2) / 4).item()
    assert get_metric("deletion:steps=4")(probe).item() == pytest.approx(expected, abs=1e-6)
    assert get_metric("deletion:steps=4:output=logit")(probe).item() == pytest.approx(2.0, abs=1e-6)
    # insertion from zeros (no blur): the reverse curve 0, 1, 2, 3, 4
    assert get_metric("insertion:steps=4:substrate=zeros:output=logit")(probe).item() == pytest.approx(2.0, abs=1e-6)
    # SRG: least relevant first deletes the same pixels (all weights equal) — 0 gain
    assert get_metric("srg:steps=4:output=logit")(probe).item() == pytest.approx(0.0, abs=1e-6)


def test_srg_rewards_the_map_that_orders_pixels_as_the_model_uses_them():
    w = torch.tensor([4.0, 3.0, 2.0, 1.0])
    x = torch.ones(2, 1, 2, 2)
    right = w.view(1, 1, 2, 2)
    wrong = -right
    probe = Probe(_Linear(w), x, torch.tensor([0, 0]), torch.cat([right, wrong]))
    gain = get_metric("srg:steps=4:output=logit")(probe)
    # MoRF curve of the right map 10, 6, 3, 1, 0 (area 3.75); LeRF 10, 9, 7, 4, 0 (area 6.25)
    assert gain[0].item() == pytest.approx(6.25 - 3.75, abs=1e-6) and gain[1].item() == pytest.approx(-2.5, abs=1e-6)


def test_road_imputation_equals_a_sparse_solve_of_the_reference_system():
    scipy_sparse = pytest.importorskip("scipy.sparse")
    from scipy.sparse.linalg import spsolve

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 12, 12, generator=g)
    keep = torch.rand(3, 12, 12, generator=g) > torch.tensor([0.1, 0.5, 0.9]).view(3, 1, 1)
    keep[0, 2:10, 3:11] = False  # one large hole: the slowest case for an iterative solver
    ours = linear_impute(x, keep).numpy()
    for i in range(3):  # ROAD's system (road/imputations.py): each removed pixel = weighted mean of its neighbours
        k = keep[i].flatten().numpy()
        idx = np.flatnonzero(~k)
        vid = -np.ones(144, int)
        vid[idx] = np.arange(len(idx))
        A = scipy_sparse.lil_matrix((len(idx), len(idx)))
        b = np.zeros((len(idx), 3))
        flat = x[i].reshape(3, -1).double().numpy()
        for e, j in enumerate(idx):
            r, c = divmod(j, 12)
            total = 0.0
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    if (dr or dc) and 0 <= r + dr < 12 and 0 <= c + dc < 12:
                        w = 1 / 12 if dr and dc else 1 / 6
                        total += w
                        q = (r + dr) * 12 + c + dc
                        if k[q]:
                            b[e] -= w * flat[:, q]
                        else:
                            A[e, vid[q]] = w
            A[e, e] = -total
        ref = flat.copy()
        ref[:, idx] = spsolve(A.tocsc(), b).reshape(len(idx), 3).T
        np.testing.assert_allclose(ours[i].reshape(3, -1), ref, atol=1e-3)  # the bound; measured ~5e-7


def test_the_imputation_stencil_is_the_reference_weights_as_a_convolution():
    v = torch.randn(5, 7, 9, generator=torch.Generator().manual_seed(0))
    conv = torch.nn.functional.conv2d(v.unsqueeze(1), STENCIL.view(1, 1, 3, 3), padding=1).squeeze(1)
    torch.testing.assert_close(_Stencil(v)(v, torch.empty_like(v)), conv, atol=1e-6, rtol=0)  # float32 sums


def test_an_images_imputation_does_not_depend_on_its_batch_or_on_which_systems_finish_first():
    g = torch.Generator().manual_seed(1)
    x = torch.rand(6, 3, 16, 16, generator=g)
    keep = torch.rand(6, 16, 16, generator=g) > torch.tensor([0.1, 0.3, 0.5, 0.7, 0.9, 0.95]).view(6, 1, 1)
    keep[0, 3:13, 3:13] = False  # a large hole: this system runs long after the others have been dropped
    whole = linear_impute(x, keep)
    for i in range(6):  # each system has its own steps and stop: equal to the bit, alone or in a batch
        assert torch.equal(linear_impute(x[i:i + 1], keep[i:i + 1]), whole[i:i + 1])


def test_a_large_image_left_alone_in_the_solver_is_summed_as_in_its_batch():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # torch splits one long reduction across threads: rows of ≥ 32,768 elements
    try:
        g = torch.Generator().manual_seed(2)
        x = torch.rand(2, 1, 192, 192, generator=g)
        keep = torch.rand(2, 192, 192, generator=g) > 0.3
        keep[1, 40:150, 40:150] = False  # image 1 runs on alone once image 0 has converged
        whole = linear_impute(x, keep)
        assert torch.equal(linear_impute(x[1:], keep[1:]), whole[1:])
        assert torch.equal(linear_impute(x[:1], keep[:1]), whole[:1])
    finally:
        torch.set_num_threads(threads)


def test_rows_sorted_through_numpy_and_threads_equal_torchs_sort(monkeypatch):
    values = torch.randn(9, 1 << 13, generator=torch.Generator().manual_seed(0))
    values[3] = 0.0  # ties
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)  # split even these few rows over the threads
    for threads in (1, 2, 3):
        monkeypatch.setattr(torch, "get_num_threads", lambda t=threads: t)
        assert torch.equal(sort_rows(values), values.sort(1).values)
        ints = (values * 1000).long()
        assert torch.equal(sort_rows(ints), ints.sort(1).values)
        assert torch.equal(sort_rows(ints.int()), ints.int().sort(1).values)


def test_the_packed_integer_sort_is_torchs_stable_sort_of_the_map(monkeypatch):
    g = torch.Generator().manual_seed(3)
    monkeypatch.setattr(parallel, "PARALLEL_FROM", 1)
    for trial in range(40):
        n, d = int(torch.randint(1, 7, (1,), generator=g)), int(torch.randint(1, 700, (1,), generator=g))
        v = torch.randn(n, d, generator=g)
        if trial % 2:
            v = torch.round(v * 2) / 2  # many ties, and both zeros: −0.0 and 0.0 are one value to torch
            v[:, ::3] = -0.0
        v[:, :3] = torch.tensor([3.4e38, -3.4e38, 1e-45])[:min(3, d)]  # extremes and a denormal
        valid = torch.rand(n, d, generator=g) > 0.3 if trial % 3 else None
        for descending in (True, False):
            key = v if descending else -v
            if valid is not None:
                key = torch.where(valid, key, torch.full_like(key, -torch.inf))
            ref = key.sort(dim=1, descending=True, stable=True).indices
            assert torch.equal(stable_order(v, descending, valid), ref), (trial, descending)
            assert torch.equal(stable_order(v.double(), descending, valid), ref)  # float64: torch's own sort


def test_the_removal_order_breaks_ties_by_the_samples_own_random_permutation():
    x, a, t = _fixture(6)
    a[2] = 0.0  # an all-zero map: its order is the permutation alone
    probe = Probe(_cnn(), x, t, a, {"sample_index": torch.arange(10, 16)}, seed=4)
    for first in (True, False):
        rel = probe.relevance().flatten(1).double()
        ties = probe.tie_ranks()
        by_ties = ties.argsort(1)  # the reference: by the permutation, then a stable sort by value
        ref = by_ties.gather(1, rel.gather(1, by_ties).sort(dim=1, descending=first, stable=True).indices)
        assert torch.equal(probe.order(first), ref)
    alone = Probe(_cnn(), x[2:3], t[2:3], a[2:3], {"sample_index": torch.tensor([12])}, seed=4)
    assert torch.equal(alone.order(True)[0], probe.order(True)[2])


def test_random_subsets_are_distinct_uniform_and_each_samples_own(monkeypatch):
    x = torch.zeros(40, 1, 16, 16)
    probe = Probe(torch.nn.Identity(), x, torch.zeros(40, dtype=torch.long), x, seed=1)
    subsets = random_subsets(probe, runs=50, size=12)
    assert all(len(set(row.tolist())) == 12 for row in subsets.flatten(0, 1))
    counts = torch.bincount(subsets.flatten(), minlength=256).double()
    expected = 40 * 50 * 12 / 256
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 255 + 6 * (2 * 255) ** 0.5  # 255 degrees of freedom: a uniform draw passes but at 6σ
    part = Probe(torch.nn.Identity(), x[7:9], torch.zeros(2, dtype=torch.long), x[7:9],
                 {"sample_index": torch.tensor([7, 8])}, seed=1)
    assert torch.equal(random_subsets(part, runs=50, size=12), subsets[7:9])
    large = random_subsets(probe, runs=3, size=100)  # over a quarter of the pixels: whole permutations
    assert all(len(set(row.tolist())) == 100 for row in large.flatten(0, 1))

    first_distinct = faithfulness_module._first_distinct

    def short(seq, d, size):  # as if the spare draws had not completed two subsets
        out, enough = first_distinct(seq, d, size)
        enough[[0, 5]] = False
        return out, enough
    monkeypatch.setattr(faithfulness_module, "_first_distinct", short)
    completed = random_subsets(probe, runs=50, size=12)
    assert all(len(set(row.tolist())) == 12 for row in completed[0, [0, 5]])
    assert torch.equal(completed[0, 1:5], subsets[0, 1:5]) and torch.equal(completed[1:], subsets[1:])


def test_perturbations_built_a_few_samples_at_a_time_score_as_when_built_whole(monkeypatch):
    x, a, t = _fixture(8)
    model = _cnn()
    specs = ("deletion", "insertion", "faithfulness_correlation:runs=10", "infidelity")
    whole = {s: get_metric(s)(Probe(model, x, t, a, {"sample_index": torch.arange(8)})) for s in specs}
    monkeypatch.setattr(probe_module, "BUILD_ELEMENTS", 1)  # one forward batch per build: 256 // versions samples
    monkeypatch.setattr(probe_module, "CHUNK", 16)  # and infidelity calls Captum for one sample at a time
    for s in specs:  # the same inputs in other forward batches: float32 kernels may differ in the last bits
        torch.testing.assert_close(get_metric(s)(Probe(model, x, t, a, {"sample_index": torch.arange(8)})),
                                   whole[s], atol=1e-6, rtol=0, msg=s)


def test_no_metric_runs_a_forward_batch_over_the_probes_chunk(monkeypatch):
    x, a, t = _fixture(8)
    model = _cnn()
    sizes = []
    model.register_forward_pre_hook(lambda module, args: sizes.append(len(args[0])))
    monkeypatch.setattr(probe_module, "CHUNK", 16)  # chunk_size: 16 inputs of 3×8×8 per forward pass
    for spec in ("deletion", "insertion", "srg", "road_morf", "faithfulness_correlation:runs=10", "infidelity"):
        sizes.clear()
        get_metric(spec)(Probe(model, x, t, a))
        assert sizes and max(sizes) <= 16, (spec, max(sizes))


def test_infidelity_is_captums_with_the_same_perturbations():
    from captum.metrics import infidelity

    x, a, t = _fixture(4)
    model = _cnn()
    probe = Probe(model, x, t, a, {"sample_index": torch.arange(4)}, seed=3)
    ours = get_metric("infidelity")(probe)
    from attrlab.metrics.faithfulness import _per_sample_noise

    noise = 0.1 * _per_sample_noise(probe, tuple(x.shape[1:]), 10, 43)
    ref = infidelity(model, lambda inp: (noise, inp - noise), x, a, target=t, n_perturb_samples=10, normalize=True)
    torch.testing.assert_close(ours, ref.float(), atol=1e-6, rtol=1e-5)


def test_sensitivity_max_is_captums_with_the_same_perturbations():
    from captum.metrics import sensitivity_max

    from attrlab.methods import get_method
    from attrlab.metrics.faithfulness import _per_sample_noise

    x, _, t = _fixture(3)
    model = _cnn()
    method = get_method("gradient")
    probe = Probe(model, x, t, method(model, x, t), {"sample_index": torch.arange(3)}, method=method)
    ours = get_metric("sensitivity_max:samples=4")(probe)
    delta = 0.02 * (2 * torch.special.ndtr(_per_sample_noise(probe, tuple(x.shape[1:]), 4, 59)) - 1)
    def explain(inp):
        if isinstance(inp, tuple):
            return (explain(inp[0]),)
        with torch.enable_grad():
            return method(model, inp, t.repeat_interleave(len(inp) // 3))

    ref = sensitivity_max(explain, x, perturb_func=lambda inp, perturb_radius: inp + delta, n_perturb_samples=4)
    torch.testing.assert_close(ours, ref.float(), atol=1e-6, rtol=1e-5)


def test_faithfulness_correlation_sparseness_and_complexity_equal_quantus(monkeypatch):
    quantus = pytest.importorskip("quantus")
    x, a, t = _fixture(6, channels=1)  # one channel: Quantus' features (channel elements) are our pixels
    model = _cnn(channels=1)
    drawn, choice = [], np.random.choice

    def recording_choice(*args, **kwargs):  # the subsets Quantus draws, run by run and sample by sample
        out = choice(*args, **kwargs)
        if args and args[0] == 64:
            drawn.append(out)
        return out

    monkeypatch.setattr(np.random, "choice", recording_choice)
    q_fc = quantus.FaithfulnessCorrelation(nr_runs=20, subset_size=9, perturb_baseline="black", abs=False,
                                           normalise=False, return_aggregate=False, disable_warnings=True)
    ref = q_fc(model=model, x_batch=x.numpy(), y_batch=t.numpy(), a_batch=a.numpy(), device="cpu", softmax=False,
               batch_size=6)
    assert len(drawn) == 20 * 6
    subsets = torch.as_tensor(np.array(drawn)).view(20, 6, 9).permute(1, 0, 2)
    probe = Probe(model, x, t, a)
    ours = faithfulness_correlation_of(probe, subsets, torch.zeros_like(x), "logit")
    np.testing.assert_allclose(ours.numpy(), np.array(ref), atol=1e-6)

    for name, cls in (("sparseness", quantus.Sparseness), ("complexity", quantus.Complexity)):
        metric = cls(abs=True, normalise=True, return_aggregate=False, disable_warnings=True)
        for i in range(len(x)):  # one map per call: Quantus normalises by the batch's maximum
            ref = metric(model=model, x_batch=x[i:i + 1].numpy(), y_batch=t[i:i + 1].numpy(),
                         a_batch=a[i:i + 1].numpy(), device="cpu")
            mine = get_metric(name)(Probe(model, x[i:i + 1], t[i:i + 1], a[i:i + 1]))
            assert mine.item() == pytest.approx(ref[0], abs=1e-6), name


def test_eraser_comprehensiveness_and_sufficiency_equal_the_hand_computed_ones():
    class Count(torch.nn.Module):  # logit_0 = number of 7s, logit_1 = 0
        def forward(self, ids):
            return torch.stack([(ids == 7).sum(1).float(), torch.zeros(len(ids))], 1)

    ids = torch.tensor([[7, 7, 3, 3, 3, 3, 3, 3, 3, 3, 0, 0]])  # 10 real tokens
    a = torch.tensor([[5.0, 4.0, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0]]) + torch.arange(12) * -1e-3
    probe = Probe(Count(), ids, torch.tensor([0]), a)
    full = torch.sigmoid(torch.tensor(2.0))
    # bins 1/5/10/20/50% of 10 tokens: k = 1, 1, 1, 2, 5; removing the top k leaves 1, 1, 1, 0, 0 sevens
    without = torch.sigmoid(torch.tensor([1.0, 1.0, 1.0, 0.0, 0.0]))
    only = torch.sigmoid(torch.tensor([1.0, 1.0, 1.0, 2.0, 2.0]))
    assert get_metric("comprehensiveness")(probe).item() == pytest.approx((full - without).mean().item(), abs=1e-6)
    assert get_metric("sufficiency")(probe).item() == pytest.approx((full - only).mean().item(), abs=1e-6)
    assert close_up(ids, ids != 3).tolist() == [[7, 7] + [0] * 10]


def _all_values(specs, model, x, t, a, batch):
    out = {}
    for s in range(0, len(x), batch):
        sl = slice(s, s + batch)
        grid = tuple(x.shape[-2:]) if x.dim() == 4 else tuple(x.shape[1:])
        region = (torch.arange(int(np.prod(grid))) % 3 == 0).view(grid)
        probe = Probe(model, x[sl], t[sl], a[sl], {"sample_index": torch.arange(len(x))[sl]}, seed=1,
                      region=region.expand(len(x[sl]), *region.shape), method=get_method("smoothgrad:samples=2"))
        res = score_automatic(specs, probe)
        assert not res.errors, res.errors
        for k, v in res.values.items():
            out.setdefault(k, []).append(v)
    return {k: torch.cat(v) for k, v in out.items()}


def test_a_samples_values_are_the_same_at_batch_1_and_8():
    x, a, t = _fixture(8)
    a[2] = 0.0  # a degenerate map: its random order must be the sample's own too
    specs = automatic_specs("all", "image")
    model = _cnn()
    one, eight = _all_values(specs, model, x, t, a, 1), _all_values(specs, model, x, t, a, 8)
    for k in specs:  # float32 kernels may sum a batch differently: 1e-5 is 100× what was measured
        torch.testing.assert_close(one[k], eight[k], atol=1e-5, rtol=0, equal_nan=True, msg=k)


def test_token_metrics_are_the_same_at_batch_1_and_4():
    class Bag(torch.nn.Module):
        def __init__(self):
            super().__init__()
            torch.manual_seed(0)
            self.embedding = torch.nn.Embedding(20, 3, padding_idx=0)

        def forward(self, ids):
            return self.embedding(ids).sum(1)

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(1, 20, (4, 9), generator=g)
    ids[1, 6:] = 0
    a = torch.rand(4, 9, generator=g)
    specs = automatic_specs("all", "text")
    assert {"comprehensiveness", "sufficiency", "loo_tau", "sparseness"} <= set(specs)
    one, four = _all_values(specs, Bag(), ids, torch.tensor([0, 1, 2, 0]), a, 1), \
        _all_values(specs, Bag(), ids, torch.tensor([0, 1, 2, 0]), a, 4)
    for k in specs:
        torch.testing.assert_close(one[k], four[k], atol=1e-6, rtol=0, equal_nan=True, msg=k)


def test_degenerate_maps_are_counted_not_dropped():
    x, a, t = _fixture(4)
    a[:] = 0.0
    probe = Probe(_cnn(), x, t, a, region=torch.zeros(4, 8, 8, dtype=torch.bool).index_fill_(1, torch.tensor([0]), True))
    res = score_automatic(["complexity", "faithfulness_correlation", "pointing_game", "deletion"], probe)
    assert res.values["complexity"].isnan().all() and res.values["faithfulness_correlation"].isnan().all()
    torch.testing.assert_close(res.values["pointing_game"], torch.full((4,), 8 / 64))  # chance, not a hit
    assert torch.isfinite(res.values["deletion"]).all()  # a random order, not an error


def test_every_metric_declares_direction_inputs_and_cost_and_names_are_checked():
    for name in list_metrics():
        info = describe_metric(name)
        assert info.direction in ("higher", "lower") and info.inputs in ("image", "tokens", "any")
    assert describe_metric("road_morf").direction == "lower" and describe_metric("road_lerf").direction == "higher"
    with pytest.raises(AttrlabError, match="unknown metric 'delection'"):
        automatic_specs("delection", "image")
    with pytest.raises(AttrlabError, match="takes image inputs"):
        automatic_specs("deletion", "text")
    with pytest.raises(AttrlabError, match="has no parameter"):
        get_metric("deletion:step=3")
    with pytest.raises(AttrlabError, match="ground-truth metric"):
        get_metric("mass_focus")
    assert "deletion:substrate=true" in automatic_specs(None, "image", {"true_baseline"})
    assert "deletion:substrate=true" not in automatic_specs(None, "image")
    added = automatic_specs("+road_morf", "image")  # +name adds to the defaults
    assert "road_morf" in added and "deletion" in added and "confidence" in added


def test_a_run_records_automatic_metrics_a_failing_one_and_a_users_own(tmp_path):
    from attrlab.evaluation import MetricConfig
    from attrlab.runner import RunConfig, run

    (tmp_path / "mine.py").write_text(
        "def peak(model, inputs, targets, attributions, sample_index):\n"
        "    return attributions.flatten(1).abs().amax(1) + 0 * sample_index\n"
        "peak.direction = 'higher'\n")
    specs = f"sparseness,deletion:steps=4,road_morf:noise=0,{tmp_path / 'mine.py'}:peak,sensitivity_max:samples=2"
    out = run(RunConfig(environment="attributionlab", methods=["gradient", "occlusion"], out_dir=tmp_path / "r",
                        options={"n_images": 2, "size": 32}, metrics=MetricConfig(automatic=specs), progress=False))
    records = pd.read_csv(out / "records.csv")
    ok = records[records["status"] == "ok"]
    assert {"sparseness", "deletion:steps=4", "road_morf:noise=0", "peak", "mass_focus"} <= set(ok["metric"])
    # sensitivity-max explains again: occlusion works; a metric failing on one job would be a failed row
    failed = records[records["status"] == "failed"]
    assert failed.empty or set(failed["metric"]) <= {"sensitivity_max:samples=2"}
    jobs = pd.read_csv(out / "jobs.csv")
    assert (jobs["auto_seconds"] > 0).all() and jobs["forward_passes"].str.contains('"deletion:steps=4": 5.0').all()
    assert "Automatic (ground-truth-free) metrics" in (out / "report.html").read_text()
    import json

    assert json.loads((out / "config.json").read_text())["metric_directions"]["peak"] == "higher"
    from attrlab.metrics.registry import _REGISTRY
    from attrlab.report.compare import compare

    _REGISTRY.pop("peak", None)  # as in a later process: compare learns the metric from the run folder
    assert "peak" in compare([out], tmp_path / "cmp", metric="peak").columns[0]
    with pytest.raises(AttrlabError, match="no run records metric 'nope'"):
        compare([out], tmp_path / "cmp", metric="nope")


def test_a_metric_whose_code_changed_is_computed_again_on_a_rerun(tmp_path):
    from attrlab.evaluation import MetricConfig
    from attrlab.runner import RunConfig, run

    mine = tmp_path / "mine.py"
    source = "def level(model, inputs, targets, attributions):\n    return 0 * attributions.flatten(1).sum(1) + {}\n" \
             "level.direction = 'higher'\n"

    def values():
        out = run(RunConfig(environment="attributionlab", methods=["gradient"], out_dir=tmp_path / "r",
                            options={"n_images": 2, "size": 32}, progress=False,
                            metrics=MetricConfig(automatic=f"{mine}:level,sparseness")))
        records = pd.read_csv(out / "records.csv")
        return set(records.loc[records["metric"] == "level", "value"]), len(list((out / "jobs").glob("*.csv")))
    mine.write_text(source.format(1.0))
    first, jobs = values()
    mine.write_text(source.format(2.0))  # the same name and file, other code
    second, jobs_after = values()
    assert first == {1.0} and second == {2.0} and jobs_after == 2 * jobs


def test_a_metric_that_fails_is_recorded_and_the_others_go_on():
    x, a, t = _fixture(2)
    res = score_automatic(["pointing_game", "sparseness"], Probe(_cnn(), x, t, a))  # no region declared
    assert "pointing_game" in res.errors and "region" in res.errors["pointing_game"]
    assert list(res.values) == ["sparseness"]


def test_cli_refuses_an_unknown_or_inapplicable_metric_in_one_line(tmp_path, capsys):
    from attrlab.cli import main

    assert main(["run", "attributionlab", "--auto-metrics", "delection", "--out", str(tmp_path / "a")]) == 2
    assert "unknown metric 'delection'" in capsys.readouterr().err
    assert main(["run", "text-attention", "--auto-metrics", "insertion", "--out", str(tmp_path / "b")]) == 2
    assert "takes image inputs" in capsys.readouterr().err
    assert main(["run", "attributionlab", "--auto-metrics", "completeness_gap", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err  # recorded by every run: refused, and not offered as a choice
    assert "recorded by the run itself" in err and "completeness_gap" not in err.split("here (")[1]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists() and not (tmp_path / "c").exists()


def test_a_later_process_reads_a_users_metric_direction_from_the_runs_config(tmp_path):
    import json

    from attrlab.metrics import direction
    from attrlab.report.tables import load_records

    pd.DataFrame([dict(environment="e", setting="s", seed=0, model_id="m", method="g", sample=0,
                       metric="my_lower_metric", value=1.0, status="ok")]).to_csv(tmp_path / "records.csv", index=False)
    (tmp_path / "config.json").write_text(json.dumps({"metric_directions": {"my_lower_metric": "lower"}}))
    assert direction("my_lower_metric") == "higher"  # unknown: the default
    load_records(tmp_path)
    assert direction("my_lower_metric") == "lower"
