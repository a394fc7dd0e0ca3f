import pytest
import torch
from torch import nn

from attrlab.errors import AttrlabError
from attrlab.methods import get_method, list_methods, parse_spec

REQUIRED = ["gradient", "smoothgrad", "input_x_gradient", "integrated_gradients", "deeplift", "deeplift_shap",
            "gradient_shap", "guided_backprop", "deconvnet", "gradcam", "guided_gradcam", "occlusion", "lime",
            "kernel_shap", "lrp_epsilon", "lrp_zplus", "lrp_alpha2beta1", "random", "edge"]

FAST = {"smoothgrad": "smoothgrad:samples=4", "lime": "lime:samples=40", "kernel_shap": "kernel_shap:samples=40",
        "gradient_shap": "gradient_shap:samples=4", "occlusion": "occlusion:window=4:stride=4",
        "integrated_gradients": "integrated_gradients:steps=8"}


def test_registry_has_the_required_methods():
    assert set(REQUIRED) <= set(list_methods())


@pytest.mark.parametrize("name", REQUIRED)
def test_every_method_gives_finite_maps_of_input_shape(name, tiny_cnn, tiny_batch):
    x, y = tiny_batch
    out = get_method(FAST.get(name, name))(tiny_cnn, x, y)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()
    if name not in ("gradcam", "guided_gradcam"):  # ReLU'd CAMs may be zero on a random net
        assert out.abs().sum() > 0


@pytest.mark.parametrize("spec", ["lime:segmentation=felzenszwalb:samples=30", "lime:segmentation=slic:samples=30",
                                  "integrated_gradients:baseline=blur:steps=8", "occlusion:baseline=blur:window=4"])
def test_variants_run(spec, tiny_cnn, tiny_batch):
    x, y = tiny_batch
    assert get_method(spec)(tiny_cnn, x, y).shape == x.shape


def test_integrated_gradients_completeness(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    attr = get_method("integrated_gradients:steps=300")(tiny_cnn, x, y)
    with torch.no_grad():
        gap = tiny_cnn(x)[torch.arange(3), y] - tiny_cnn(torch.zeros_like(x))[torch.arange(3), y]
    assert torch.allclose(attr.flatten(1).sum(1), gap, atol=2e-3, rtol=1e-2)


def test_true_baseline_is_used(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    attr = get_method("integrated_gradients:baseline=true:steps=300")(tiny_cnn, x, y, true_baseline=x * 0.5)
    with torch.no_grad():
        gap = tiny_cnn(x)[torch.arange(3), y] - tiny_cnn(x * 0.5)[torch.arange(3), y]
    assert torch.allclose(attr.flatten(1).sum(1), gap, atol=2e-3, rtol=1e-2)
    # where the input equals the baseline nothing is attributed
    same = x.clone()
    same[:, :, :4] = 0.5
    a = get_method("occlusion:baseline=true:window=2:stride=2")(tiny_cnn, same, y, true_baseline=torch.full_like(x, 0.5))
    # the occluded and the original forward pass see the same pixels there, but in batches of other
    # sizes, whose float32 kernels may sum in another order: zero up to the rounding of a logit
    # (float32 keeps ~7 digits; 1e-5 of the largest logit leaves a margin of 100x)
    with torch.no_grad():
        scale = tiny_cnn(same).abs().max()
    assert a[:, :, :4].abs().max() <= 1e-5 * scale


def test_input_x_gradient_is_exact_on_a_linear_model():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3)).eval()
    x = torch.randn(4, 3, 2, 2)
    y = torch.tensor([0, 1, 2, 1])
    attr = get_method("input_x_gradient")(model, x, y)
    exact = model[1].weight[y].view(4, 3, 2, 2) * x
    assert torch.allclose(attr, exact, atol=1e-6)
    # DeepLIFT with a zero baseline and IG agree with the exact contributions on a linear model too
    assert torch.allclose(get_method("deeplift")(model, x, y), exact, atol=1e-5)
    assert torch.allclose(get_method("integrated_gradients:steps=4")(model, x, y), exact, atol=1e-5)


def test_methods_are_deterministic_with_seeds(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    for spec in ("lime:samples=30", "random", "gradient_shap:samples=4"):
        assert torch.equal(get_method(spec)(tiny_cnn, x, y), get_method(spec)(tiny_cnn, x, y))


def test_user_callable_plugs_in_and_gets_only_what_it_asks(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    seen = {}

    def mine(model, inputs, targets, true_baseline=None):
        seen["baseline"] = true_baseline
        return inputs * 2

    out = get_method(mine)(tiny_cnn, x, y, true_baseline=x, true_segments=torch.zeros(3, 8, 8))
    assert torch.equal(out, x * 2) and seen["baseline"] is x
    assert get_method(lambda m, i, t: i, label="ident").label == "ident"


def test_clear_errors(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    with pytest.raises(AttrlabError, match="unknown method 'integrated_gradient'.*integrated_gradients"):
        get_method("integrated_gradient")
    with pytest.raises(AttrlabError, match="has no parameter 'windw'"):
        get_method("occlusion:windw=3")
    with pytest.raises(AttrlabError, match="key=value"):
        parse_spec("occlusion:8")
    with pytest.raises(AttrlabError, match="returned shape"):
        get_method(lambda m, i, t: i[:, 0])(tiny_cnn, x, y)
    with pytest.raises(AttrlabError, match="NaN"):
        get_method(lambda m, i, t: i * float("nan"))(tiny_cnn, x, y)
    with pytest.raises(AttrlabError, match="true baseline"):
        get_method("integrated_gradients:baseline=true")(tiny_cnn, x, y)
    with pytest.raises(AttrlabError, match="baseline=grey is not one of"):
        get_method("deeplift:baseline=grey")(tiny_cnn, x, y)
    with pytest.raises(AttrlabError, match="true_segments"):
        get_method("lime:segmentation=true")(tiny_cnn, x, y)


def test_run_seed_reaches_stochastic_methods_without_changing_labels(tiny_cnn, tiny_batch):
    x, y = tiny_batch
    m3 = get_method("random", defaults={"seed": 3})
    assert m3.label == "random" and m3.params["seed"] == 3
    assert get_method("random:seed=5", defaults={"seed": 3}).params["seed"] == 5  # the spec wins
    assert "seed" not in get_method("gradient", defaults={"seed": 3}).params  # only methods that take one
    assert not torch.equal(m3(tiny_cnn, x, y), get_method("random")(tiny_cnn, x, y))


def _models_by_modality():
    from attrlab.models.rationale import RationaleModel
    from attrlab.models.text import AttentionClassifier
    torch.manual_seed(0)
    image_model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 4, 3, stride=2, padding=1),
                                nn.ReLU(), nn.Flatten(), nn.Linear(64, 3), nn.Softmax(dim=1)).eval()  # ends in nn.Softmax: DeepLIFT's case
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(1, 20, (8, 6), generator=g)
    ids[:, -2:] = 0  # padding
    return {
        "image": (image_model, torch.rand(8, 3, 8, 8, generator=g), torch.arange(8) % 3),
        "text": (AttentionClassifier(vocab_size=20, emb=4, hidden=4, attn=4).eval(), ids, torch.arange(8) % 2),
        "rationale": (RationaleModel(20, "cr", 4, 4, 0.2, 1.0).eval(), ids, torch.arange(8) % 2),
        "transformer": (_tiny_bert(), ids, torch.arange(8) % 2),  # methods that require attention probabilities
    }


def _tiny_bert():
    from attrlab.models.transformer import bert_small

    docs = [[f"w{i}" for i in range(k, k + 5)] for k in range(20)]
    model = bert_small(docs, 2, hidden=8, layers=2, heads=2, vocab_size=40, max_tokens=16).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def test_a_samples_map_does_not_depend_on_its_batch():
    """Every registered method, at batch size 8 and at batch size 1, gives each sample the same map
    (noise is drawn per sample from the run seed and the sample's index). Tolerance: 1e-5 of the
    map's scale, for float32 kernels that sum a batch of 8 in another order than a batch of 1.
    The SHAP methods' baseline=data is the documented exception: its references are the batch."""
    from attrlab.methods import describe

    models = _models_by_modality()
    checked = 0
    for name in list_methods():
        method = get_method(name)
        if method.label.endswith(":baseline=data"):
            method = get_method(f"{name}:baseline=zeros")
        info = describe(name)
        kind = "image" if info.oracle else info.modality
        if not method.applies_to(models[kind][0]):  # methods that require attention probabilities
            kind = "transformer"
        model, x, y = models[kind]
        index = torch.arange(8)
        extra = {"oracle_map": torch.rand(8, *x.shape[2:]) > 0.5} if info.oracle else {}  # the ladder's control
        whole = method(model, x, y, sample_index=index, **extra)
        alone = torch.cat([method(model, x[i:i + 1], y[i:i + 1], sample_index=index[i:i + 1],
                                  **{k: v[i:i + 1] for k, v in extra.items()}) for i in range(8)])
        scale = float(whole.abs().max()) or 1.0
        assert (whole - alone).abs().max() <= 1e-5 * scale + 1e-12, name
        checked += 1
    assert checked == len(list_methods())


def test_complete_methods_record_their_completeness_gap_and_flag_large_ones(tmp_path):
    """IG with many steps on a smooth model is complete (gap below 1%); with 2 steps on a ReLU
    network it is not, and the run flags the job. A method that does not claim completeness gets
    no gap record."""
    import pandas as pd

    from attrlab.methods.registry import completeness_gap

    torch.manual_seed(0)
    smooth = nn.Sequential(nn.Flatten(), nn.Linear(12, 6), nn.Tanh(), nn.Linear(6, 2)).eval()
    x, y = torch.rand(4, 3, 2, 2), torch.tensor([0, 1, 0, 1])
    ig = get_method("integrated_gradients:steps=200")
    assert ig.complete and not get_method("gradient").complete
    gap = completeness_gap(smooth, x, y, ig(smooth, x, y), torch.zeros_like(x))
    assert gap.max() < 0.01

    from attrlab.runner import RunConfig, run

    out = run(RunConfig(environment="attributionlab", out_dir=tmp_path, options={"n_images": 2, "size": 32},
                        methods=["integrated_gradients:steps=2", "gradient"], progress=False, report=True))
    rec = pd.read_csv(out / "records.csv")
    gaps = rec[rec.metric == "completeness_gap"]
    assert set(gaps["method"]) == {"integrated_gradients:steps=2"} and len(gaps) == 2 * 2
    jobs = pd.read_csv(out / "jobs.csv", keep_default_na=False)
    assert jobs.loc[jobs.method == "integrated_gradients:steps=2", "flag"].str.contains("completeness gap").any()
    assert "<h2>Completeness</h2>" in (out / "report.html").read_text()


def test_each_paper_method_declares_the_reading_smerfs_authors_used():
    """../shared/notes/smerf-reference-facts.md: heatmap methods are read as the magnitude of the
    channel sum, the gradient and SmoothGrad as Σ|channels|, DCN/GBP clipped and signed, DeepSHAP
    signed, Grad-CAM non-negative; a user's function declares its own or gets the default."""
    expected = {"gradient": "absolute", "smoothgrad": "absolute", "deconvnet": "clipped",
                "guided_backprop": "clipped", "gradcam": "positive", "deeplift_shap": "signed",
                "integrated_gradients": "magnitude", "deeplift": "magnitude", "input_x_gradient": "magnitude",
                "lrp_epsilon": "magnitude", "lrp_zplus": "magnitude", "lrp_alpha2beta1": "magnitude",
                "random": "magnitude", "edge": "magnitude"}
    for name, reading in expected.items():
        assert get_method(name).reading == reading, name

    def mine(model, inputs, targets):
        return inputs

    assert get_method(mine).reading == "magnitude"
    mine.reading = "signed"
    assert get_method(mine).reading == "signed"
    mine.reading = "upside-down"
    with pytest.raises(AttrlabError, match="unknown map reading"):
        get_method(mine)
