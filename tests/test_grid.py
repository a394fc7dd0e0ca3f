"""The grid environment (Rao et al. 2022): DiFull's exactness for any architecture, DiPart's and
GridPG's leaks, layer views for layer methods, the localisation score, grids from a user's folder
and a user's weights."""
import numpy as np
import pytest
import torch
from PIL import Image

from attrlab.environments import get_environment
from attrlab.environments.grid import leak, make_grids, parse_grid
from attrlab.errors import AttrlabError
from attrlab.methods import get_method
from attrlab.metrics import positive_share
from attrlab.models.classifiers import SmallCNN, build_classifier
from attrlab.models.grid import DiFull, DiPart, GridPG, cell_masks, from_cells, head, to_cells

SIDE = 16


def _grids(n=2, rows=2, cols=2, seed=0):
    return torch.rand(n, 3, rows * SIDE, cols * SIDE, generator=torch.Generator().manual_seed(seed))


def _outside_gradient(model, grids, cell, target):
    x = grids.clone().requires_grad_(True)
    model(x)[:, target].sum().backward()
    outside = ~cell_masks(2, 2, SIDE)[cell]
    return float(x.grad.abs().sum(1)[:, outside].max())


def _frozen(model):
    for p in model.parameters():
        p.requires_grad_(False)
    return model.eval()


def _cnn(seed=0):
    torch.manual_seed(seed)  # before the weights are drawn: the same model whatever ran before
    return _frozen(SmallCNN(4))


@pytest.mark.parametrize("architecture", ["small", "resnet18"])
def test_difull_outputs_do_not_depend_on_any_other_cell_for_any_architecture(architecture):
    torch.manual_seed(0)
    net = build_classifier(architecture, 4)
    with torch.no_grad():  # batch-norm statistics that are not the identity, as after training
        net.train()(torch.rand(8, 3, SIDE, SIDE))
    model = DiFull(_frozen(net), 2, 2, 4).eval()
    grids = _grids()
    for cell in range(4):
        target = head(cell, 3 - cell, 4)
        assert _outside_gradient(model, grids, cell, target) == 0.0  # exactly, not approximately
        inside = grids.clone().requires_grad_(True)
        model(inside)[:, target].sum().backward()
        assert float(inside.grad.abs().sum()) > 0


def test_dipart_and_gridpg_leak_across_cell_borders_and_difull_does_not():
    net = _cnn()
    grids = _grids(3)
    cells = torch.tensor([0, 1, 3])
    masks = cell_masks(2, 2, SIDE)[cells]
    heads = torch.tensor([head(int(c), 1, 4) for c in cells])
    assert leak(DiFull(net, 2, 2, 4).eval(), grids, heads, masks).max() == 0
    dipart = DiPart(net, 2, 2, 4, "middle", grids[:1]).eval()
    assert dipart.split == "features.10"
    assert (leak(dipart, grids, heads, masks) > 0).all()
    assert (leak(GridPG(net, 2, 2, 4).eval(), grids, torch.tensor([1, 1, 1]), masks) > 0).all()


def test_dipart_before_its_split_sees_the_grid_and_after_it_one_cell_per_head():
    net = _cnn()
    grids = _grids(1)
    dipart = DiPart(net, 2, 2, 4, "middle", grids).eval()
    difull = DiFull(net, 2, 2, 4).eval()
    # identical weights, only the connection differs: the outputs differ near borders, not in kind
    assert dipart(grids).shape == difull(grids).shape == (1, 16)
    assert not torch.allclose(dipart(grids), difull(grids))


def test_a_layer_method_on_a_disconnected_grid_reads_the_layer_laid_out_as_the_grid():
    net = _cnn()
    model = DiFull(net, 2, 2, 4).eval()
    grids = _grids(2)
    target = torch.tensor([head(2, 0, 4), head(2, 1, 4)])
    for spec in ("gradcam", "layercam", "layer_gradient:layer=middle", "layer_input_x_gradient"):
        maps = get_method(spec)(model, grids, target)
        assert maps.shape == grids.shape, spec
    from captum.attr import LayerGradientXActivation

    layer = model.attribution_layer("final", grids)
    grad = LayerGradientXActivation(model, layer, multiply_by_inputs=False).attribute(grids, target=target)
    assert grad.shape[-2:] == (2 * SIDE // 8, 2 * SIDE // 8)  # the grid's layout, not a batch of cells
    cell_of_layer = cell_masks(2, 2, SIDE // 8)[2]
    assert float(grad.abs().sum(1)[:, ~cell_of_layer].max()) == 0.0
    assert float(grad.abs().sum()) > 0


def test_backpropagation_maps_on_difull_are_exactly_zero_outside_the_explained_cell():
    net = _cnn()
    model = DiFull(net, 2, 2, 4).eval()
    grids = _grids(2)
    target = torch.tensor([head(1, 2, 4), head(3, 0, 4)])
    outside = ~cell_masks(2, 2, SIDE)[[1, 3]]
    for spec in ("gradient", "guided_backprop", "input_x_gradient", "integrated_gradients:steps=8"):
        maps = get_method(spec)(model, grids, target).sum(1)
        assert float(maps.abs()[outside].max()) == 0.0, spec


def test_gridpg_refuses_a_model_that_takes_one_image_size_with_a_way_out():
    class Fixed(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(3 * SIDE * SIDE, 4)

        def forward(self, x):
            return self.fc(x.flatten(1))

    torch.manual_seed(0)
    with pytest.raises(AttrlabError, match="difull and dipart"):
        GridPG(_frozen(Fixed()), 2, 2, 4)(_grids(1))
    assert DiFull(_frozen(Fixed()), 2, 2, 4)(_grids(1)).shape == (1, 16)


def test_cells_split_and_reassemble_exactly_and_heads_index_cell_then_class():
    x = torch.rand(3, 5, 12, 18)
    assert torch.equal(from_cells(to_cells(x, 2, 3), 2, 3), x)
    assert torch.equal(to_cells(x, 2, 3)[4], x[0, :, 6:, 6:12])
    assert head(2, 1, 4) == 9
    with pytest.raises(AttrlabError, match="equal cells"):
        to_cells(torch.rand(1, 3, 5, 4), 2, 2)


def test_grids_hold_distinct_classes_and_never_reuse_an_image():
    labels = torch.arange(5).repeat_interleave(4)
    images = torch.arange(20.).view(20, 1, 1, 1).expand(20, 3, 2, 2)
    grids, classes = make_grids(images, labels, 2, 2, 10, np.random.default_rng(0))
    assert len(grids) == len(classes) == 5  # 20 images, 4 a grid: then they run out
    assert all(len(set(c)) == 4 for c in classes.tolist())
    used = to_cells(grids, 2, 2)[:, 0, 0, 0].tolist()
    assert len(used) == len(set(used)) == 20
    assert [labels[int(v)].item() for v in used[:4]] == classes[0].tolist()
    assert parse_grid("2x2", 2) == (1, 2) and parse_grid("3x3", 9) == (3, 3)
    with pytest.raises(AttrlabError, match="ROWSxCOLS"):
        parse_grid("two", 4)


def test_the_localisation_score_counts_positive_attribution_only():
    maps = torch.tensor([[[2.0, -8.0], [1.0, 1.0]], [[-1.0, -1.0], [-1.0, -1.0]]])
    region = torch.tensor([[[True, True], [False, False]]] * 2)
    assert positive_share(maps, region).tolist() == [0.5, 0.0]  # 2 of 4 positive; nothing positive: 0


def _folder(root, classes=("ant", "bee", "cow"), n=9):
    rng = np.random.default_rng(0)
    for k, c in enumerate(classes):
        (root / c).mkdir(parents=True)
        for i in range(n):
            pixels = np.zeros((20, 20, 3), np.uint8)
            pixels[..., k] = 200
            pixels += rng.integers(0, 40, (20, 20, 3)).astype(np.uint8)
            Image.fromarray(pixels).save(root / c / f"{i}.png")
    return root


def _build(tmp_path, **options):
    env = get_environment("grid")
    values = env.resolve("quick", {"side": 16, "train": 5, "val": 2, "test": 2, "grids": 2, "max_epochs": 40,
                                   "restarts": 0, "threshold": 0.9, "cache_dir": str(tmp_path / "cache"), **options})
    return env.build("quick", seed=0, settings=None, device="cpu", progress=False, **values)


def test_a_users_three_class_folder_makes_one_row_grids_with_exact_difull(tmp_path):
    built = _build(tmp_path, images=str(_folder(tmp_path / "imgs")))
    sets = {ev.setting: ev for ev in built.eval_sets}
    assert set(sets) == {"difull", "dipart", "gridpg"}
    difull = sets["difull"]
    assert built.config["grid"] == "1x3" and difull.inputs.shape[-2:] == (16, 48)
    assert difull.verification.details["max_leak"] == 0.0 and difull.verification.details["ground_truth"] == "exact"
    assert sets["gridpg"].verification.details["ground_truth"].startswith("plausible")
    gt = difull.ground_truth
    assert torch.equal(gt.avoid, ~gt.focus) and (gt.focus.flatten(1).sum(1) == 16 * 16).all()
    assert sorted(set(gt.facts["class"])) == ["ant", "bee", "cow"]


def test_a_users_weights_are_loaded_instead_of_training(tmp_path):
    images = str(_folder(tmp_path / "imgs"))
    trained = _build(tmp_path, images=images).eval_sets[0].model.model
    torch.save(trained.state_dict(), tmp_path / "net.pt")
    built = _build(tmp_path / "elsewhere", images=images, weights=str(tmp_path / "net.pt"))
    ev = built.eval_sets[0]
    assert ev.verification.details["trained"] is False and "epochs" not in ev.verification.details
    assert torch.equal(ev.model.model.fc.weight, trained.fc.weight)
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "bad.pt")
    with pytest.raises(AttrlabError, match="does not fit"):
        _build(tmp_path, images=images, weights=str(tmp_path / "bad.pt"))


def test_a_single_class_folder_is_refused_in_one_line(tmp_path):
    with pytest.raises(AttrlabError, match="at least two classes"):
        _build(tmp_path, images=str(_folder(tmp_path / "one", classes=("ant",))))


def test_the_meta_evaluation_leaves_out_plausible_ground_truth_unless_asked():
    import pandas as pd

    from attrlab import meta

    rows = []
    for setting, plausible in (("difull", 0), ("gridpg", 1)):
        for m, (gt, auto) in {"a": (0.9, 0.8), "b": (0.5, 0.4), "c": (0.2, 0.1)}.items():
            for metric, value in (("localisation", gt), ("insertion", auto)):
                rows.append({"environment": "grid", "setting": setting, "model_id": "m", "seed": 0, "method": m,
                             "sample": 0, "metric": metric, "value": value, "status": "ok", "verified": True,
                             "group_plausible": plausible, "error": ""})
    records = pd.DataFrame(rows)
    heads = {"grid": "localisation"}
    assert set(meta.agreement(records, heads)["setting"]) == {"difull"}
    out = meta.left_out(records, heads)
    assert set(out["setting"]) == {"gridpg"} and out["why"].str.contains("only plausible").all()
    assert set(meta.agreement(records, heads, include_unverified=True)["setting"]) == {"difull", "gridpg"}


def test_deeplift_takes_a_torchvision_resnet_whose_blocks_call_one_relu_twice():
    # Captum's DeepLIFT refuses a module called twice (torchvision's BasicBlock calls self.relu twice);
    # attrlab gives each call its own copy, so DeepLIFT runs, keeps completeness and DiFull's exactness
    import torchvision

    torch.manual_seed(0)
    # torchvision's own, as --model torchvision.models:resnet18 builds it (our resnet18 puts a Normalize in
    # front, after which Captum's max-pooling rule is no longer complete: a separate matter)
    model = DiFull(_frozen(torchvision.models.resnet18(num_classes=4)), 2, 2, 4).eval()
    grids = _grids(2)
    target = torch.tensor([head(0, 1, 4), head(3, 2, 4)])
    maps = get_method("deeplift")(model, grids, target)
    with torch.no_grad():
        delta = (model(grids) - model(torch.zeros_like(grids))).gather(1, target.view(-1, 1)).squeeze(1)
    # float32 sums over ~3k pixels of a deep network: 1e-4 relative is ~100x the rounding measured (1e-6)
    torch.testing.assert_close(maps.flatten(1).sum(1), delta, rtol=1e-4, atol=1e-5)
    assert float(maps[0, :, SIDE:, :].abs().max()) == 0.0 and float(maps[0, :, :SIDE, :SIDE].abs().sum()) > 0


class _Split(torch.nn.Module):
    """Our CNN written out as DiPart at ``cut``: features[:cut+1] on the grid, the rest per cell."""

    def __init__(self, net, cut):
        super().__init__()
        self.front, self.back, self.fc = net.features[:cut + 1], net.features[cut + 1:], net.fc

    def forward(self, grid):
        cells = to_cells(self.front(grid), 2, 2)
        return self.fc(self.back(cells).mean(dim=(2, 3))).reshape(grid.shape[0], -1)


@pytest.mark.parametrize("split, cut", [("final", 14), ("features.12", 12)])
def test_dipart_gives_the_maps_of_the_model_written_out_by_hand(split, cut):
    net = _cnn()
    grids = _grids(2, seed=1)
    target = torch.tensor([head(0, 1, 4), head(3, 2, 4)])
    dipart = DiPart(net, 2, 2, 4, split, grids[:1]).eval()
    by_hand = _Split(net, cut).eval()
    assert torch.equal(dipart(grids), by_hand(grids))
    for spec in ("gradient", "guided_backprop", "deeplift", "lrp_epsilon", "input_x_gradient"):
        # the same operations in the same order: equal to the bit, hooks and all
        assert torch.equal(get_method(spec)(dipart, grids, target), get_method(spec)(by_hand, grids, target)), spec
    assert not dipart._grid_activation


def test_dipart_refuses_a_split_that_runs_twice_or_a_cell_side_its_stride_does_not_divide():
    import torchvision

    torch.manual_seed(0)
    resnet = _frozen(torchvision.models.resnet18(num_classes=4))
    with pytest.raises(AttrlabError, match="runs 2 times"):
        DiPart(resnet, 2, 2, 4, "layer4.1.relu", _grids(1))
    with pytest.raises(AttrlabError, match="stride"):
        DiPart(resnet, 2, 2, 4, "layer4", torch.rand(1, 3, 80, 80))
    dipart = DiPart(resnet, 2, 2, 4, "layer4", torch.rand(1, 3, 64, 64))  # 32-pixel cells: 1×1 each at layer4
    assert dipart.attribution_layer("layer4.0", torch.rand(1, 3, 64, 64)) is dipart.front.get_submodule("layer4.0")
    maps = get_method("layer_gradient:layer=layer4.0")(dipart, torch.rand(1, 3, 64, 64), torch.tensor([head(1, 0, 4)]))
    assert float(maps.abs().sum()) > 0


def test_a_setting_the_model_cannot_take_is_skipped_with_its_reason(tmp_path):
    class Fixed(torch.nn.Module):
        def __init__(self, input_shape, n_classes):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4 * input_shape[1] * input_shape[2], n_classes)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).flatten(1))

    with pytest.warns(UserWarning, match="gridpg skipped"):
        built = _build(tmp_path, images=str(_folder(tmp_path / "imgs")), model=Fixed)
    assert [ev.setting for ev in built.eval_sets] == ["difull", "dipart"]
    assert "any image size" in built.config["skipped"]["gridpg"]


def test_upsampling_caps_a_layer_map_as_the_authors_code_does():
    from attrlab.environments.grid import upsampling_ceiling

    assert upsampling_ceiling((7, 7), 2, 2, 224) == pytest.approx((220 / 224) ** 2, abs=1e-4)
    assert upsampling_ceiling((1, 1), 2, 2, 32) < upsampling_ceiling((4, 4), 2, 2, 32) < 1.0
