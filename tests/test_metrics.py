import math

import pytest
import torch

from attrlab.errors import AttrlabError
from attrlab.metrics import (attribution_mass, binarize_signed, binomial_tail, max_accuracy_without_manipulation,
                             mean_attribution, precision_recall_f1, reduce_channels, shapley_bound,
                             signed_precision_recall_f1, topk_iou)


def test_mass_hand_computed_smerf_toy_example():
    # Kim et al. App. A.4 Fig. 14 in miniature: A (primary) = 1 per pixel, B (secondary) = 0.8, background 0.001
    maps = torch.tensor([[1.0, 1.0, 0.8, 0.8, 0.001, 0.001]])
    a = torch.tensor([[True, True, False, False, False, False]])
    b = torch.tensor([[False, False, True, True, False, False]])
    total = 2 + 1.6 + 0.002
    assert attribution_mass(maps, a).item() == pytest.approx(2 / total)
    assert attribution_mass(maps, b).item() == pytest.approx(1.6 / total)
    # top-K IoU ignores B entirely: the metric's known blind spot (App. A.4.1)
    assert topk_iou(maps, a).item() == 1.0
    assert topk_iou(maps, b).item() == 0.0


def test_mass_edge_cases():
    zero = torch.zeros(1, 4)
    region = torch.tensor([[True, False, False, False]])
    assert attribution_mass(zero, region).item() == 0.0
    assert math.isnan(attribution_mass(torch.ones(1, 4), torch.zeros(1, 4, dtype=torch.bool)).item())
    assert math.isnan(mean_attribution(torch.ones(1, 4), torch.zeros(1, 4, dtype=torch.bool)).item())
    assert math.isnan(topk_iou(torch.ones(1, 4), torch.zeros(1, 4, dtype=torch.bool)).item())
    assert topk_iou(zero, region).item() == 0.0  # an all-zero map selects nothing


def test_mass_properties_random_batches():
    g = torch.Generator().manual_seed(3)
    maps = torch.randn(50, 6, 6, generator=g)
    labels = torch.randint(0, 3, (50, 6, 6), generator=g)
    parts = [labels == k for k in range(3)]
    masses = torch.stack([attribution_mass(maps, p) for p in parts])
    assert ((masses >= 0) & (masses <= 1)).all()
    assert torch.allclose(masses.sum(0), torch.ones(50), atol=1e-5)  # disjoint regions add up
    union = attribution_mass(maps, parts[0] | parts[1])
    assert torch.allclose(union, masses[0] + masses[1], atol=1e-6)
    for fn in (attribution_mass, lambda m, r: topk_iou(m, r, 1.0), mean_attribution):
        a, b = fn(maps, parts[0]), fn(maps * 7.5, parts[0])
        assert torch.allclose(a, b, atol=1e-6, equal_nan=True)  # invariant to positive scaling
    iou = topk_iou(maps, parts[1])
    assert ((iou >= 0) & (iou <= 1)).all()


def test_mean_attribution_and_iou_hand_computed():
    maps = torch.tensor([[4.0, 2.0, 2.0, 0.0]])
    region = torch.tensor([[False, True, True, False]])
    assert mean_attribution(maps, region, "sum").item() == pytest.approx(0.25)
    assert mean_attribution(maps, region, "max").item() == pytest.approx(0.5)
    assert mean_attribution(maps, region, "none").item() == pytest.approx(2.0)
    # K = 2: top-2 are positions 0 and 1 -> intersection 1, union 3
    assert topk_iou(maps, region).item() == pytest.approx(1 / 3)


def test_topk_among_tied_pixels_chooses_by_pixel_index_whatever_the_batch():
    # a LIME-like map: four constant superpixels, so K cuts through a plateau of ties
    g = torch.Generator().manual_seed(0)
    one = torch.zeros(1, 32, 32)
    one[0, :16, :16], one[0, :16, 16:], one[0, 16:, :16], one[0, 16:, 16:] = 0.7, 0.7, 0.3, 0.7
    region = torch.zeros(1, 32, 32, dtype=torch.bool)
    region[0, 10:30, 10:30] = True  # K = 400 of the 768 pixels tied at 0.7
    alone = topk_iou(one, region)
    others = torch.rand(7, 32, 32, generator=g).round(decimals=1)  # more ties, other samples
    for position in range(8):
        batch = torch.cat([others[:position], one, others[position:]])
        regions = torch.cat([region.expand(7, -1, -1)[:position], region, region.expand(7, -1, -1)[position:]])
        assert topk_iou(batch, regions)[position].item() == alone.item()
    # the first 400 tied pixels in row-major order: rows 0-11 of columns 0-31 and 16 of row 12
    # region covers rows 10-11, columns 10-29 (40) and row 12's columns 10-15 (6)
    assert alone.item() == pytest.approx(46 / (400 + 400 - 46))


def test_topk_iou_blur_spreads_a_point():
    m = torch.zeros(1, 9, 9)
    m[0, 4, 4] = 1.0
    region = torch.zeros(1, 9, 9, dtype=torch.bool)
    region[0, 3:6, 3:6] = True
    assert topk_iou(m, region).item() == pytest.approx(1 / 9)
    assert topk_iou(m, region, blur_sigma=1.0).item() == pytest.approx(1.0)


def test_precision_recall_f1_hand_computed_and_edges():
    sel = torch.tensor([[True, True, True, False], [False, False, False, False]])
    gt = torch.tensor([[True, False, False, True], [True, False, False, False]])
    out = precision_recall_f1(sel, gt)
    assert out["precision"].tolist() == pytest.approx([1 / 3, 0.0])
    assert out["recall"].tolist() == pytest.approx([0.5, 0.0])
    assert out["f1"][0].item() == pytest.approx(2 * (1 / 3) * 0.5 / (1 / 3 + 0.5))
    assert out["f1"][1].item() == 0.0
    empty = precision_recall_f1(torch.tensor([[True]]), torch.tensor([[False]]))
    assert math.isnan(empty["recall"].item()) and empty["precision"].item() == 0.0


def test_signed_prf_perfect_and_sign_flipped():
    pos = torch.tensor([[True, True, False, False, False]])
    neg = torch.tensor([[False, False, True, False, False]])
    perfect = torch.tensor([[1.0, 1.0, -0.5, 0.0, 0.0]])
    out = signed_precision_recall_f1(perfect, pos, neg)
    assert all(v.item() == 1.0 for v in out.values())
    flipped = signed_precision_recall_f1(-perfect, pos, neg)
    assert flipped["positive_f1"].item() == 0.0 and flipped["negative_f1"].item() == 0.0
    assert flipped["overall_f1"].item() == 1.0  # magnitudes are right, signs wrong: DeepSHAP's failure mode
    # below-threshold noise is not attributed; scaling does not change the binarisation
    noisy = perfect + torch.tensor([[0.0, 0.0, 0.0, 0.005, -0.005]])
    assert signed_precision_recall_f1(noisy, pos, neg)["overall_precision"].item() == 1.0
    assert signed_precision_recall_f1(noisy, pos, neg, threshold=0.0)["overall_precision"].item() == pytest.approx(0.6)
    assert binarize_signed(noisy * 1e-9)["overall"].equal(binarize_signed(noisy)["overall"])
    assert not binarize_signed(torch.zeros(1, 5))["overall"].any()


def test_reduce_channels():
    a = torch.tensor([[[[1.0, -2.0]], [[-3.0, 1.0]]]])
    assert reduce_channels(a, "sum_abs").tolist() == [[[4.0, 3.0]]]
    assert reduce_channels(a, "sum").tolist() == [[[-2.0, -1.0]]]
    assert reduce_channels(a, "mean").tolist() == [[[-1.0, -0.5]]]
    assert reduce_channels(a, "max_abs").tolist() == [[[3.0, 2.0]]]
    with pytest.raises(AttrlabError, match="unknown channel reduction"):
        reduce_channels(a, "median")


def test_bad_input_errors():
    with pytest.raises(AttrlabError, match="does not match"):
        attribution_mass(torch.ones(1, 4), torch.ones(1, 5, dtype=torch.bool))
    with pytest.raises(AttrlabError, match="NaN"):
        attribution_mass(torch.tensor([[float("nan"), 1.0]]), torch.tensor([[True, False]]))
    with pytest.raises(AttrlabError, match="boolean"):
        attribution_mass(torch.ones(1, 2), torch.ones(1, 2))


def test_shapley_bound():
    assert shapley_bound(1.0, 0.5) == pytest.approx(1.0)      # r = 0.5: only the manipulation is informative
    assert shapley_bound(1.0, 1.0) == pytest.approx(0.5)      # fully correlated original features: 1.5 − r
    assert shapley_bound(0.9, 0.7) == pytest.approx((1.8 - 0.7 - 0.5) / 0.8)
    with pytest.raises(AttrlabError):
        shapley_bound(0.5, 0.7)
    with pytest.raises(AttrlabError):
        shapley_bound(0.9, 0.3)


def test_binomial_tail_matches_direct_sum():
    n, p, p_star = 40, 0.8, 0.7
    k0 = math.floor(p * n)
    direct = sum(math.comb(n, k) * p_star ** k * (1 - p_star) ** (n - k) for k in range(k0, n + 1))
    assert binomial_tail(p, n, p_star) == pytest.approx(direct, rel=1e-9)
    assert binomial_tail(0.97, 800, 0.5) < 1e-100  # vanishes with N
    assert max_accuracy_without_manipulation([[0.2, 0.8], [0.6, 0.4]]) == 0.8
    with pytest.raises(AttrlabError):
        max_accuracy_without_manipulation([[0.5, 0.6], [0.5, 0.5]])


def test_smerf_protocol_on_the_papers_toy_example():
    """Kim et al. App. A.4 / Fig. 14: object A (primary) at 1, B (secondary) at 0.8, background at
    0.001, no blur. Min-max normalisation sends the background to 0, so PAFL = |A| / (|A| + 0.7998·|B|):
    with A 10×10 and B 6×7 that is 100 / 133.59 = 0.7486 (the paper: ≈ 0.75); the top-|A| pixels
    are A (PIoU = 1) and the top-|B| pixels lie in A too (SIoU = 0)."""
    import torch

    from attrlab.core import GroundTruth
    from attrlab.evaluation import MetricConfig, score

    a = torch.full((1, 3, 64, 64), 0.001)
    a[0, :, 5:15, 5:15] = 1.0
    a[0, :, 40:46, 30:37] = 0.8
    focus = torch.zeros(1, 64, 64, dtype=torch.bool)
    avoid = torch.zeros(1, 64, 64, dtype=torch.bool)
    focus[0, 5:15, 5:15] = True
    avoid[0, 40:46, 30:37] = True
    out = score(a, GroundTruth(focus=focus, avoid=avoid), MetricConfig(protocol="smerf", box_blur=0))
    b = (0.8 - 0.001) / (1 - 0.001)
    assert out["mass_focus"].item() == pytest.approx(100 / (100 + 42 * b), abs=1e-5)  # float32 sums
    assert out["mass_avoid"].item() == pytest.approx(42 * b / (100 + 42 * b), abs=1e-5)
    assert out["iou_focus"].item() == 1.0 and out["iou_avoid"].item() == 0.0
    # attrlab's protocol keeps the background: Σ|a| over 3 channels, no normalisation
    plain = score(a, GroundTruth(focus=focus, avoid=avoid))
    assert plain["mass_focus"].item() == pytest.approx(100 / (100 + 33.6 + 0.001 * (4096 - 142)), abs=1e-5)


def test_smerf_protocol_blurs_before_normalising_by_hand():
    """One pixel at 9 in a 7×7 map, 3×3 box blur: the 3×3 block around it is 1, the rest 0; after
    min-max normalisation and division by the sum each block pixel holds 1/9, so the centre pixel's
    AFL is 1/9 and the block's is 1; top-9 IoU with the block is 1."""
    import torch

    from attrlab.core import GroundTruth
    from attrlab.evaluation import MetricConfig, score

    a = torch.zeros(1, 1, 7, 7)
    a[0, 0, 3, 3] = 9.0
    centre = torch.zeros(1, 7, 7, dtype=torch.bool)
    centre[0, 3, 3] = True
    block = torch.zeros(1, 7, 7, dtype=torch.bool)
    block[0, 2:5, 2:5] = True
    cfg = MetricConfig(protocol="smerf", box_blur=3)
    assert score(a, GroundTruth(focus=centre), cfg)["mass_focus"].item() == pytest.approx(1 / 9, abs=1e-6)
    out = score(a, GroundTruth(focus=block), cfg)
    assert out["mass_focus"].item() == pytest.approx(1.0, abs=1e-6) and out["iou_focus"].item() == 1.0


def test_smerf_protocol_reads_each_map_as_its_method_declares():
    """A map with its positive mass on the object and a negative lobe elsewhere (IG's typical map):
    read signed, min-max lifts the zero background to the lobe's level and PAFL collapses; read as
    the authors read IG (magnitude of the channel sum) the background stays at 0."""
    import torch

    from attrlab.core import GroundTruth
    from attrlab.evaluation import MetricConfig, score

    a = torch.zeros(1, 3, 64, 64)
    a[0, :, 5:15, 5:15] = 1.0
    a[0, :, 40:50, 40:50] = -1.0
    focus = torch.zeros(1, 64, 64, dtype=torch.bool)
    focus[0, 5:15, 5:15] = True
    config = MetricConfig(protocol="smerf", box_blur=0)
    signed = score(a, GroundTruth(focus=focus), config, reading="signed")["mass_focus"].item()
    magnitude = score(a, GroundTruth(focus=focus), config, reading="magnitude")["mass_focus"].item()
    assert signed == pytest.approx(100 / (100 + 0.5 * (4096 - 200)))  # background at 0.5 after min-max
    assert magnitude == pytest.approx(0.5)  # the lobe counts as much as the object, the background nothing
    assert score(a, GroundTruth(focus=focus), config, reading="positive")["mass_focus"].item() == pytest.approx(1.0)
    with pytest.raises(AttrlabError):
        score(a, GroundTruth(focus=focus), config, reading="sideways")
