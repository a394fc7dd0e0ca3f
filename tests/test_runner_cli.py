import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import torch

from attrlab.cli import main
from attrlab.runner import RunConfig, run

SMALL = {"n_images": 3, "size": 32}


def _run(tmp_path, methods, **kw):
    return run(RunConfig(environment="attributionlab", out_dir=tmp_path, methods=methods, options=SMALL,
                         progress=False, batch_size=2, **kw))


def test_run_writes_tidy_records_verification_and_report(tmp_path):
    out = _run(tmp_path, ["deeplift:baseline=true", "random"])
    records = pd.read_csv(out / "records.csv")
    for col in ("environment", "setting", "seed", "model_id", "method", "sample", "metric", "value", "status",
                "verified", "group_target_colour"):
        assert col in records.columns
    assert set(records["setting"]) == {"redundant", "no-redundant"}
    assert set(records["method"]) == {"deeplift:baseline=true", "random"}
    assert records["sample"].nunique() == 3
    ok = records[(records.method == "deeplift:baseline=true") & (records.metric == "overall_f1")]
    assert (ok["value"] == 1.0).all()
    assert json.loads((out / "verification.json").read_text())["passed"] is True
    html = (out / "report.html").read_text()
    assert "deeplift:baseline=true" in html and "data:image/png;base64" in html


def test_rerun_resumes_and_only_missing_jobs_run(tmp_path):
    out = _run(tmp_path, ["random"])
    first = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.csv")}
    victim = sorted(first)[0]
    (out / "jobs" / victim).unlink()  # as if the run had been interrupted before this job
    _run(tmp_path, ["random", "edge"])
    after = {p.name: p.stat().st_mtime_ns for p in (out / "jobs").glob("*.csv")}
    assert victim in after
    assert all(after[n] == t for n, t in first.items() if n != victim)  # cached jobs untouched
    assert set(pd.read_csv(out / "records.csv")["method"]) == {"random", "edge"}


def test_failing_method_is_recorded_and_the_run_goes_on(tmp_path):
    calls = {"n": 0}

    def flaky(model, inputs, targets):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("boom on the first batch")
        return torch.rand_like(inputs)

    def nan_method(model, inputs, targets):
        return inputs * float("nan")

    out = _run(tmp_path, [flaky, nan_method, "random"])
    records = pd.read_csv(out / "records.csv", keep_default_na=False, na_values=["nan", ""])
    failed = records[records.status == "failed"]
    assert set(failed["method"]) == {"flaky", "nan_method"}
    assert failed[failed.method == "flaky"]["error"].str.contains("boom on the first batch").all()
    assert failed[failed.method == "nan_method"]["error"].str.contains("NaN").all()
    assert (records[records.method == "flaky"]["status"] == "ok").any()  # later batches still ran
    assert (records[records.method == "random"]["status"] == "ok").all()
    assert "boom on the first batch" in (out / "report.html").read_text()


def test_report_rebuilds_from_records_alone(tmp_path):
    out = _run(tmp_path, ["occlusion:baseline=true:window=4:stride=4", "occlusion:window=4:stride=4"])
    shutil.rmtree(out / "figures")
    (out / "report.html").unlink()
    shutil.rmtree(out / "jobs")  # the job cache is not needed to rebuild the report
    assert main(["report", str(out)]) == 0
    html = (out / "report.html").read_text()
    assert "Method variants" in html
    assert (out / "figures" / "variants_occlusion.png").exists()
    assert html.count("data:image/png;base64") >= 4


def test_cli_list_and_one_line_errors(capsys, tmp_path):
    assert main(["list", "methods"]) == 0
    names = capsys.readouterr().out.split()
    assert "integrated_gradients" in names and "lrp_epsilon" in names and "edge" in names
    assert main(["run", "attributionlab", "--methods", "integrated_gradient", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "unknown method 'integrated_gradient'" in err
    assert main(["run", "nolab", "--out", str(tmp_path)]) == 2
    assert "unknown environment 'nolab'" in capsys.readouterr().err
    assert main(["run", "attributionlab", "--set", "n_images", "--out", str(tmp_path)]) == 2
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert main(["run", "attributionlab", "--device", "cuda:7" if not torch.cuda.is_available() else "tpu",
                 "--out", str(tmp_path)]) == 2


def test_cli_run_end_to_end_subprocess(tmp_path):
    out = tmp_path / "al"
    proc = subprocess.run([sys.executable, "-m", "attrlab.cli", "run", "attributionlab", "--methods",
                           "integrated_gradients:steps=8,deeplift,lime:samples=30", "--set", "n_images=2",
                           "--set", "size=32", "--out", str(out), "--no-progress"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "model verified" in proc.stdout and "deeplift" in proc.stdout
    assert (out / "report.html").exists()


def test_bare_run_is_the_embedded_default(tmp_path, capsys, monkeypatch):
    import dataclasses

    from attrlab.environments import contract, get_environment, list_environments

    assert [n for n in list_environments() if get_environment(n).spec.in_default_run] == ["attributionlab", "smerf"]
    smerf = get_environment("smerf")  # its training is covered in test_smerf_env
    monkeypatch.setitem(contract._REGISTRY, "smerf", dataclasses.replace(
        smerf, spec=dataclasses.replace(smerf.spec, in_default_run=False)))
    out = tmp_path / "default"
    assert main(["run", "--methods", "random", "--set", "n_images=2", "--set", "size=32", "--out", str(out),
                 "--no-progress"]) == 0
    records = pd.read_csv(out / "records.csv")
    assert set(records["environment"]) == {"attributionlab"}
    assert "model verified" in capsys.readouterr().out


def test_an_edited_user_method_is_not_served_from_the_cache(tmp_path):
    def mine(model, inputs, targets):
        return torch.ones_like(inputs)

    _run(tmp_path, [mine])
    n_jobs = len(list((tmp_path / "jobs").glob("*.csv")))

    def mine(model, inputs, targets):  # noqa: F811  (same name, new body)
        return torch.rand_like(inputs)

    _run(tmp_path, [mine])
    assert len(list((tmp_path / "jobs").glob("*.csv"))) == 2 * n_jobs


def test_compare_ranks_methods_across_runs_of_different_environments(tmp_path, capsys):
    from attrlab.report.compare import compare

    import runpy

    from attrlab.environments import contract

    a = _run(tmp_path / "al", ["gradient", "deeplift:baseline=true", "random"])
    try:  # a second environment: the architecture page's toy-patch (a hand-set patch detector)
        runpy.run_path(str(Path(__file__).parents[1] / "examples" / "toy_environment.py"))
        b = run(RunConfig(environment="toy-patch", out_dir=tmp_path / "toy", methods=["gradient", "edge", "random"],
                          progress=False, report=False))
    finally:
        contract._REGISTRY.pop("toy-patch", None)
    table = compare([a, b], tmp_path / "cmp")
    assert table.loc["gradient", "runs"] == 2 and table.loc["deeplift:baseline=true", "runs"] == 1
    assert table.loc["random", "runs"] == 2 and table.loc["edge", "runs"] == 1
    assert table.index[0] == "deeplift:baseline=true"  # exact on AttributionLab, and run there only
    assert table.loc["gradient", "mean rank"] < table.loc["random", "mean rank"]  # in both environments
    merged = pd.read_csv(tmp_path / "cmp" / "records.csv")
    assert set(merged["run"]) == {str(a), str(b)} and set(merged["environment"]) == {"attributionlab", "toy-patch"}
    assert (tmp_path / "cmp" / "compare.png").exists()
    # `attrlab report` of a folder of runs compares them
    (tmp_path / "both").mkdir()
    shutil.copytree(a, tmp_path / "both" / "one")
    shutil.copytree(b, tmp_path / "both" / "two")
    assert main(["report", str(tmp_path / "both")]) == 0
    assert "deeplift:baseline=true" in capsys.readouterr().out
    assert (tmp_path / "both" / "compare" / "compare.csv").exists()
