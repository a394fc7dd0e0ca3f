import pytest
import torch

from attrlab.data import BACKGROUND, PALETTE, generate_colour_patches
from attrlab import build_environment
from attrlab.errors import AttrlabError
from attrlab.models import DesignedColourCounter


def test_generator_labels_are_unique_dominant_colours_and_pixels_are_palette_colours():
    b = generate_colour_patches(20, size=32, n_colours=5, seed=4)
    top2 = b.counts.sort(1, descending=True).values[:, :2]
    assert (top2[:, 0] > top2[:, 1]).all() and (b.counts > 0).all()
    assert torch.equal(b.labels, b.counts.argmax(1))
    allowed = {tuple(c) for c in PALETTE[:5]} | {BACKGROUND}
    pixels = (b.images * 255).round().to(torch.int64).permute(0, 2, 3, 1).reshape(-1, 3).unique(dim=0)
    assert {tuple(p.tolist()) for p in pixels} <= allowed
    again = generate_colour_patches(20, size=32, n_colours=5, seed=4)
    assert torch.equal(b.images, again.images)


@pytest.mark.parametrize("size", [16, 37, 64, 224])
def test_logits_equal_pixel_counts_at_any_size(size):
    b = generate_colour_patches(3, size=size, n_colours=4, seed=size)
    net = DesignedColourCounter(PALETTE[:4], size=size, n_redundant=3, seed=1)
    assert torch.equal(net.logits(b.images), b.counts.float())
    probs = net(b.images)
    assert torch.allclose(probs.sum(1), torch.ones(3)) and torch.equal(probs.argmax(1), b.labels)


def test_every_ground_truth_pixel_counts_exactly_once_sensitivity_and_symmetry():
    # remove each foreground pixel in turn (batched): its colour's logit drops by exactly 1, others stay
    size = 16
    b = generate_colour_patches(1, size=size, n_colours=3, seed=2)
    net = DesignedColourCounter(PALETTE[:3], size=size, seed=0)
    fg = (b.colour_index[0] >= 0).nonzero()
    x = b.images.repeat(len(fg), 1, 1, 1)
    bg = torch.tensor(BACKGROUND, dtype=torch.float32) / 255
    x[torch.arange(len(fg)), :, fg[:, 0], fg[:, 1]] = bg
    delta = net.logits(x) - net.logits(b.images)
    expected = -torch.nn.functional.one_hot(b.colour_index[0][fg[:, 0], fg[:, 1]], 3).float()
    assert torch.equal(delta, expected)
    # and adding a pixel of colour k on the background raises logit k by exactly 1
    back = (b.colour_index[0] < 0).nonzero()[:20]
    for k in range(3):
        y = b.images.repeat(len(back), 1, 1, 1)
        y[torch.arange(len(back)), :, back[:, 0], back[:, 1]] = torch.tensor(PALETTE[k], dtype=torch.float32) / 255
        d = net.logits(y) - net.logits(b.images)
        assert torch.equal(d, torch.nn.functional.one_hot(torch.full((len(back),), k), 3).float())


def test_unseen_colour_moves_output_only_through_redundant_channels():
    b = generate_colour_patches(2, size=32, n_colours=4, seed=0)
    x = b.images.clone()
    x[:, :, :3, :3] = torch.tensor([0.0, 0.0, 0.0]).view(3, 1, 1)        # unseen (black)
    y = b.images.clone()
    y[:, :, :3, :3] = torch.tensor(BACKGROUND, dtype=torch.float32).view(3, 1, 1) / 255  # seen (background)
    with_r = DesignedColourCounter(PALETTE[:4], size=32, n_redundant=2)
    without = DesignedColourCounter(PALETTE[:4], size=32, n_redundant=0)
    assert not torch.allclose(with_r.logits(x), with_r.logits(y))
    assert torch.equal(without.logits(x), without.logits(y))
    assert with_r.redundant_activation(x)[:, :3, :3].eq(1).all()
    assert with_r.redundant_activation(b.images).eq(0).all()


def test_gradient_is_exactly_zero_at_dataset_images():
    b = generate_colour_patches(4, size=32, n_colours=4, seed=3)
    net = DesignedColourCounter(PALETTE[:4], size=32)
    x = b.images.clone().requires_grad_(True)
    p = net(x)
    (g,) = torch.autograd.grad((p * torch.randn_like(p)).sum(), x)
    assert g.abs().max() == 0


def test_environment_ground_truth_and_verification():
    env = build_environment("attributionlab", n_images=4, size=32, seed=5)
    assert env.verified
    assert [e.setting for e in env.eval_sets] == ["redundant", "no-redundant"]
    ev = env.eval_sets[0]
    gt = ev.ground_truth
    with torch.no_grad():
        logits = ev.model.logits(ev.inputs)
    for i in range(len(ev)):
        t = int(ev.targets[i])
        assert int(gt.positive[i].sum()) == int(logits[i, t])
        assert int(gt.negative[i].sum()) == int(logits[i].sum() - logits[i, t])
    assert not (gt.positive & gt.negative).any()
    assert torch.equal(gt.focus, gt.positive | gt.negative)
    assert ev.context["true_baseline"].shape == ev.inputs.shape
    assert env.verification.settings["redundant"].details["unseen_colour_output_shift"] > 0
    assert env.verification.settings["no-redundant"].details["unseen_colour_output_shift"] == 0


def test_true_baseline_methods_are_perfect_on_the_no_redundant_model():
    env = build_environment("attributionlab", n_images=3, size=32, settings=["no-redundant"])
    ev = env.eval_sets[0]
    from attrlab import get_method, score

    scores = score(get_method("deeplift:baseline=true")(ev.model, ev.inputs, ev.targets, **ev.context), ev.ground_truth)
    for key in ("positive_f1", "negative_f1", "overall_f1"):
        assert scores[key].min().item() == pytest.approx(1.0)


def test_bad_options():
    with pytest.raises(AttrlabError, match="unknown attributionlab option 'colours'. Did you mean n_colours"):
        build_environment("attributionlab", colours=3)
    with pytest.raises(AttrlabError, match="has no preset 'huge'"):
        build_environment("attributionlab", "huge")
    with pytest.raises(AttrlabError, match="unknown attributionlab setting"):
        build_environment("attributionlab", settings=["nope"])
    with pytest.raises(AttrlabError, match="n_images=0 is below its minimum 1"):
        build_environment("attributionlab", n_images=0)
    with pytest.raises(AttrlabError, match="expects"):
        DesignedColourCounter(PALETTE[:3], size=32)(torch.zeros(1, 3, 16, 16))
