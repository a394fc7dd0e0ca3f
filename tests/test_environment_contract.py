"""Every registered environment keeps the contract (attrlab.testing's checks on a tiny build), and
the contract refuses what it must."""
import pytest

from attrlab.environments import get_environment, list_environments
from attrlab.errors import AttrlabError
from attrlab.testing import CHECKS, check_environment


@pytest.mark.parametrize("name", list_environments())
def test_every_environment_keeps_the_contract(name, tmp_path):
    assert check_environment(name, cache_dir=tmp_path) == [c.__name__ for c in CHECKS]


@pytest.mark.parametrize("name", list_environments())
def test_declared_options_are_validated_where_declared(name):
    spec = get_environment(name).spec
    for opt in spec.options:
        if opt.minimum is not None:
            with pytest.raises(AttrlabError, match=f"{opt.name}=.* below its minimum"):
                spec.resolve("quick", {opt.name: str(opt.minimum - 1)})
        if opt.choices:
            with pytest.raises(AttrlabError, match="not allowed; choose one of"):
                spec.resolve("quick", {opt.name: "no-such-choice"})
        if opt.type in (int, float):
            with pytest.raises(AttrlabError, match="is not"):
                spec.resolve("quick", {opt.name: "ten"})
    with pytest.raises(AttrlabError, match=f"unknown {name} option"):
        spec.resolve("quick", {"no_such_option": "1"})


def test_a_negative_seed_and_an_empty_settings_list_are_refused():
    env = get_environment("attributionlab")
    with pytest.raises(AttrlabError, match="seed must be a non-negative integer"):
        env.build(seed=-5)
    with pytest.raises(AttrlabError, match="list of settings is empty"):
        env.build(settings=[])


def test_the_architecture_pages_toy_environment_is_one_file(tmp_path):
    """docs/ARCHITECTURE.md's worked example: one file registers a new environment that passes
    the contract checks and runs through the runner and the report like the built-in ones."""
    import runpy
    from pathlib import Path

    import pandas as pd

    from attrlab.environments import contract
    from attrlab.runner import RunConfig, run

    path = Path(__file__).parents[1] / "examples" / "toy_environment.py"
    assert len(path.read_text().splitlines()) < 80
    try:
        runpy.run_path(str(path))  # registers toy-patch
        assert "toy-patch" in list_environments()
        check_environment("toy-patch")
        out = run(RunConfig(environment="toy-patch", methods=["gradient", "random"], out_dir=tmp_path,
                            progress=False))
        rec = pd.read_csv(out / "records.csv")
        grad = rec[(rec.method == "gradient") & (rec.metric == "mass_focus") & (rec.group_has_patch == 1)]
        assert len(grad) == 4 and (grad["value"] == 1.0).all()  # the detector's gradient lies on the patch only
        assert "toy-patch" in (out / "report.html").read_text()
        contract._REGISTRY.pop("toy-patch")
        from attrlab.cli import main  # the CLI takes the file in place of an environment name

        assert main(["run", str(path), "--methods", "gradient", "--out", str(tmp_path / "cli"), "--no-progress"]) == 0
        assert (tmp_path / "cli" / "records.csv").exists()
    finally:
        contract._REGISTRY.pop("toy-patch", None)


def test_a_recipe_sets_its_options_over_the_preset_and_under_the_users_own():
    from attrlab.environments.contract import EnvironmentSpec, Option
    from attrlab.environments.text_attention_spec import PAPER_RECIPE

    reg = get_environment("text-attention")
    quick = reg.resolve("quick")
    paper = reg.resolve("quick", {"recipe": "paper"})
    assert all(paper[k] == v for k, v in PAPER_RECIPE.items()) and paper["train"] == quick["train"]
    assert quick["emb"] == 64 and quick["clip"] == 0.0  # the default recipe changes nothing
    learned = reg.resolve("quick", {"recipe": "paper", "embeddings": "learned"})
    assert learned["embeddings"] == "learned" and learned["weight_decay"] == 1e-5
    with pytest.raises(AttrlabError, match="recipe"):
        reg.resolve("quick", {"recipe": "ours-but-better"})
    with pytest.raises(AttrlabError, match="undeclared"):
        EnvironmentSpec("bad", "bad", "image", ("s",), {"quick": {}}, (Option("recipe", str, "a", "r"),),
                        recipes={"a": {"nope": 1}})


def test_the_rationale_recipe_is_the_authors_training_and_stopping_rule(tmp_path):
    from attrlab.environments.text_rationale import _rationale_model
    from attrlab.environments.text_rationale_spec import PAPER_RECIPE

    reg = get_environment("text-rationale")
    paper = reg.resolve("quick", {"recipe": "paper"})
    assert all(paper[k] == v for k, v in PAPER_RECIPE.items())
    assert paper["sel_check"] == "validation" and paper["sel_tolerance"] == 0.01 and paper["dropout"] == 0.2
    small = {**paper, "emb": 4, "hidden": 4}
    rl, cr = (_rationale_model(small, 20, kind, 0.1) for kind in ("rl", "cr"))
    assert (rl.sel_cost, cr.sel_cost) == ("document", "batch")  # the authors' RL per document, HardKuma per batch
    assert rl.dropout.p == 0.2
    assert reg.resolve("quick")["sel_check"] == "test" and reg.resolve("quick")["dropout"] == 0.0
    env = reg.build("quick", seed=0, settings=["article-rl-sel0.07"], device="cpu", progress=False,
                    **{**reg.spec.test_options, "sel_check": "validation", "cache_dir": str(tmp_path)})
    details = env.eval_sets[0].verification.details
    assert details["sel_check"] == "validation" and {"val_selection", "test_selection", "val_rule"} <= set(details)
