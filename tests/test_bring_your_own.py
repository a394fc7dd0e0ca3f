"""A user's own methods and models, by import path, by file or as Python objects (issue 10)."""
import textwrap

import pandas as pd
import pytest
import torch

from attrlab import build_environment, get_method
from attrlab.cli import main
from attrlab.errors import AttrlabError

SMALL = dict(train_scale=0.0, min_train=60, val_per_bucket=30, test_per_bucket=1, max_epochs=12)

METHODS = '''
import torch

def doubled_gradient(model, inputs, targets):
    x = inputs.detach().clone().requires_grad_(True)
    model(x).gather(1, targets.view(-1, 1)).sum().backward()
    return 2 * x.grad
'''

MODELS = '''
import torch
from torch import nn

class PresenceNet(nn.Module):
    """A user's CNN: two convolutions, global max pooling, a linear layer."""

    def __init__(self, input_shape, n_classes):
        super().__init__()
        c = input_shape[0]
        self.features = nn.Sequential(nn.Conv2d(c, 16, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU())
        self.fc = nn.Linear(32, n_classes)

    def forward(self, x):
        return self.fc(self.features(x).amax(dim=(2, 3)))


class Blind(nn.Module):
    """Ignores its input: it can only ever predict one class."""

    def __init__(self, input_shape, n_classes):
        super().__init__()
        self.bias = nn.Parameter(torch.tensor([1.0] + [0.0] * (n_classes - 1)))

    def forward(self, x):
        return self.bias.expand(len(x), -1) + 0 * x.flatten(1).sum(1, keepdim=True)


def wrong_shape(input_shape, n_classes):
    return nn.Flatten()
'''


@pytest.fixture
def user_code(tmp_path, monkeypatch):
    (tmp_path / "user_methods.py").write_text(textwrap.dedent(METHODS))
    (tmp_path / "user_models.py").write_text(textwrap.dedent(MODELS))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_a_method_by_import_path_by_file_and_a_captum_class_run_beside_registered_ones(user_code, capsys):
    for k, ref in enumerate(("user_methods:doubled_gradient", "./user_methods.py:doubled_gradient")):
        out = user_code / f"run{k}"
        assert main(["run", "attributionlab", "--methods", f"{ref},captum.attr:InputXGradient,gradient",
                     "--set", "n_images=2", "--set", "size=32", "--out", str(out), "--no-progress"]) == 0
        rec = pd.read_csv(out / "records.csv")
        assert set(rec["method"]) == {"doubled_gradient", "InputXGradient", "gradient"}
        assert (rec["status"] == "ok").all()
    # the same function named twice in one run has one label: refused, not silently merged
    assert main(["run", "attributionlab", "--methods", "user_methods:doubled_gradient,./user_methods.py:doubled_gradient",
                 "--out", str(user_code / "twice"), "--no-progress"]) == 2
    assert "labels repeat" in capsys.readouterr().err


def test_a_plain_three_argument_function_and_a_class_object_work_from_python(user_code):
    from captum.attr import Saliency

    env = build_environment("attributionlab", n_images=2, size=32)
    ev = env.eval_sets[0]
    from user_methods import doubled_gradient

    for method in (get_method(doubled_gradient), get_method(Saliency), get_method("user_methods:doubled_gradient")):
        maps = method(ev.model, ev.inputs, ev.targets, **ev.context)  # context a plain function does not take is held back
        assert maps.shape == ev.inputs.shape
    assert get_method(Saliency).label == "Saliency"


def test_a_bad_reference_is_one_line(user_code, capsys):
    for ref, says in (("user_methods:nope", "has no nope"), ("./missing.py:f", "does not exist"),
                      ("no_such_module:f", "cannot import")):
        assert main(["run", "attributionlab", "--methods", ref, "--out", str(user_code / "x"), "--no-progress"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and says in err, err


def test_a_users_model_trains_and_verifies_like_ours(user_code):
    torch.set_num_threads(2)
    env = build_environment("smerf", settings=["simple-fr"], model="./user_models.py:PresenceNet",
                            cache_dir=str(user_code / "cache"), **SMALL)
    v = env.verification.settings["simple-fr"]
    assert v.passed, v.details
    assert type(env.eval_sets[0].model).__name__ == "PresenceNet"


def test_a_model_that_cannot_verify_says_why_and_a_renamed_one_is_not_served_from_the_cache(user_code):
    cache = str(user_code / "cache")
    blind = build_environment("smerf", settings=["simple-fr"], model="user_models:Blind", cache_dir=cache,
                              **{**SMALL, "max_epochs": 1})
    v = blind.verification.settings["simple-fr"]
    assert not v.passed and v.details["collapsed"] and "one class" in v.details["reason"]
    # another architecture under the same name: its source differs, so it trains anew
    (user_code / "user_models.py").write_text(textwrap.dedent(MODELS).replace("[1.0] +", "[2.0] +"))
    import importlib
    import sys

    sys.modules.pop("user_models", None)
    importlib.invalidate_caches()
    again = build_environment("smerf", settings=["simple-fr"], model="user_models:Blind", cache_dir=cache,
                              **{**SMALL, "max_epochs": 1})
    assert again.verification.settings["simple-fr"].details["cached"] is False


def test_a_model_with_the_wrong_output_is_refused_in_one_line(user_code):
    with pytest.raises(AttrlabError, match=r"gives .* for a batch of 2; it must give logits \(2, 2\)"):
        build_environment("smerf", settings=["simple-fr"], model="user_models:wrong_shape",
                          cache_dir=str(user_code / "cache"), **SMALL)


TEXT_MODELS = '''
from attrlab.models.rationale import RationaleModel
from attrlab.models.text import AttentionClassifier


class MySelector(RationaleModel):
    def __init__(self, vocab_size, kind, selection):
        super().__init__(vocab_size, kind, emb=8, hidden=8, selection=selection)


class MyAttention(AttentionClassifier):
    def __init__(self, vocab_size, n_classes):
        super().__init__(vocab_size, emb=8, hidden=8, attn=8, n_classes=n_classes)
'''


def test_users_text_models_train_in_both_text_environments(user_code):
    (user_code / "text_models.py").write_text(textwrap.dedent(TEXT_MODELS))
    tiny = dict(train=60, val=20, test=20, eval_docs=2, max_epochs=1, cache_dir=str(user_code / "cache"))
    att = build_environment("text-attention", settings=["article"], model="text_models:MyAttention", **tiny)
    assert type(att.eval_sets[0].model).__name__ == "MyAttention"
    maps = get_method("attention")(att.eval_sets[0].model, att.eval_sets[0].inputs, att.eval_sets[0].targets)
    assert maps.shape == att.eval_sets[0].inputs.shape
    rat = build_environment("text-rationale", settings=["cn-cr-sel0.05"], model="./text_models.py:MySelector", **tiny)
    assert type(rat.eval_sets[0].model).__name__ == "MySelector"
    assert "test_selection" in rat.eval_sets[0].verification.details
    with pytest.raises(AttrlabError, match=r"lacks rationale\(ids\), selection_rate\(ids\)"):
        build_environment("text-rationale", settings=["cn-cr-sel0.05"], model="text_models:MyAttention", **tiny)
