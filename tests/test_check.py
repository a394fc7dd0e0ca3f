"""attrlab check: each check passes, fails with a reason, or skips with one; the exit code says."""
import pandas as pd
import pytest
import torch

from attrlab.checks import CHECKS, Lab, check_method, run_check
from attrlab.cli import main
from attrlab.methods import get_method
from attrlab.testing import parametrize_with_checks


@pytest.fixture(scope="module")
def lab():
    return Lab()


def test_an_exact_method_passes_the_contract_and_the_designed_ground_truth(lab):
    results = {r.name: r for r in check_method("deeplift:baseline=true", groups=("contract",), lab=lab)}
    assert all(r.status == "pass" for r in results.values()), results
    designed = run_check(CHECKS["sanity"][1], get_method("deeplift:baseline=true"), lab, "sanity")
    assert designed.status == "pass" and designed.numbers["positive_f1"] == 1.0


def test_a_method_that_draws_fresh_noise_each_call_fails_determinism_with_its_reason(lab):
    def noisy(model, inputs, targets):
        return torch.randn_like(inputs)  # ignores the seed attrlab gives

    results = {r.name: r for r in check_method(noisy, groups=("contract",), lab=lab)}
    assert results["check_same_seed_same_map"].status == "fail"
    assert "differ" in results["check_same_seed_same_map"].reason


def test_a_method_that_does_not_claim_completeness_is_skipped_with_the_reason(lab):
    r = run_check(CHECKS["sanity"][2], get_method("gradient"), lab, "sanity")
    assert r.status == "skip" and "does not claim" in r.reason


def test_cli_exit_code_follows_the_verdict(tmp_path, capsys):
    assert main(["check", "random", "--groups", "contract", "--out", str(tmp_path), "--no-progress"]) == 0
    page = (tmp_path / "check.html").read_text()
    shown = pd.read_csv(tmp_path / "check.csv")
    assert "<h2>random</h2>" in page and "same_seed_same_map" in page  # the method's section and its checks
    assert set(shown["method"]) == {"random"} and set(shown["status"]) <= {"pass", "skip"}
    (tmp_path / "noisy.py").write_text("import torch\n\ndef noisy(model, inputs, targets):\n"
                                       "    return torch.randn_like(inputs)\n")
    assert main(["check", f"{tmp_path / 'noisy.py'}:noisy", "--groups", "contract", "--out", str(tmp_path),
                 "--no-progress"]) == 1
    assert "same_seed_same_map" in capsys.readouterr().out
    assert main(["check", "--groups", "nonsense", "gradient"]) == 2


@parametrize_with_checks(["random"], groups=("contract",))
def test_parametrize_with_checks_runs_each_check_as_a_case(method, check, lab):
    check(method, lab)
