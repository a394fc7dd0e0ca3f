"""Studies: seeds and grids planned as training and attribution jobs, run on any executor with the
same records, resumed after a kill, reported with spread over models and the papers' values."""
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from attrlab.cli import main
from attrlab.errors import AttrlabError
from attrlab.executors import execute_plan
from attrlab.report.paper import compare_to_papers, paper_values
from attrlab.report.spread import spread
from attrlab.study import Study, parse_seeds, plan, run_study

TEXT_TINY = {"train": 40, "val": 10, "test": 10, "eval_docs": 2, "emb": 4, "hidden": 4, "attn": 4, "max_epochs": 1,
             "runs": 1}


def _text_study(seeds="0-1"):
    return Study.from_dict({"name": "tiny-text", "seeds": seeds, "run": [
        {"environment": "text-attention", "settings": ["article", "cn"], "methods": ["attention", "embedding_gradient"],
         "options": TEXT_TINY}]})


def test_seeds_are_lists_and_ranges_and_bad_ones_are_refused_in_words():
    assert parse_seeds("0-3,7") == [0, 1, 2, 3, 7]
    assert parse_seeds([2, "0-1"]) == [0, 1, 2]
    for bad, words in (("3-1", "backwards"), ("a", "not a seed"), ("-1", "not a seed"), ("", "not a seed")):
        with pytest.raises(AttrlabError, match=words):
            parse_seeds(bad)


def test_study_file_is_read_and_its_mistakes_are_named(tmp_path):
    good = tmp_path / "s.toml"
    good.write_text('name = "x"\nseeds = "0-2"\n[[run]]\nenvironment = "attributionlab"\ngrid = { n_images = [2, 3] }\n')
    study = Study.from_toml(good)
    assert [e.seeds for e in study.entries] == [(0, 1, 2)]
    assert len(plan(study).units) == 6
    cases = {'[[run]]\nenvironmnt = "smerf"\n': "unknown key", 'nme = 1\n[[run]]\nenvironment = "smerf"\n': "unknown key",
             '[[run]]\nenvironment = "smerf"\ngrid = { r = 1 }\n': "non-empty list", "name = [\n": "not valid TOML",
             'name = "x"\n': "no \\[\\[run\\]\\]"}
    for text, words in cases.items():
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(AttrlabError, match=words):
            Study.from_toml(bad)
    with pytest.raises(AttrlabError, match="does not exist"):
        Study.from_toml(tmp_path / "missing.toml")


def test_plan_has_one_training_job_per_model_and_attribution_waits_for_them():
    p = plan(_text_study())
    assert [u.name for u in p.units] == ["text-attention-s0", "text-attention-s1"]
    train = [j for j in p.jobs if j.kind == "train"]
    assert [(j.unit.seed, j.setting) for j in train] == [(0, "article"), (0, "cn"), (1, "article"), (1, "cn")]
    attribute = [j for j in p.jobs if j.kind == "attribute"]
    assert [set(j.deps) for j in attribute] == [{train[0].id, train[1].id}, {train[2].id, train[3].id}]
    assert len({j.id for j in p.jobs}) == len(p.jobs)


def test_bad_option_in_a_grid_fails_before_any_work():
    study = Study.from_dict({"run": [{"environment": "attributionlab", "grid": {"n_images": [2, 0]}}]})
    with pytest.raises(AttrlabError, match="n_images=0 is below its minimum"):
        plan(study)
    with pytest.raises(AttrlabError, match="unknown method"):
        plan(Study.from_dict({"run": [{"environment": "attributionlab", "methods": ["nope"]}]}))


def _records(out):
    return pd.read_csv(Path(out) / "records.csv")


def test_records_are_identical_in_process_and_on_two_worker_processes(tmp_path, monkeypatch):
    # separate model caches: each executor trains its own models (thread count fixed per job)
    monkeypatch.setenv("ATTRLAB_CACHE", str(tmp_path / "cache1"))
    a = run_study(_text_study(), tmp_path / "one", progress=False, report=False)
    monkeypatch.setenv("ATTRLAB_CACHE", str(tmp_path / "cache2"))
    b = run_study(_text_study(), tmp_path / "two", workers=2, progress=False, report=False)
    ra, rb = _records(a), _records(b)
    assert len(ra) > 0 and set(ra["seed"]) == {0, 1} and set(ra["setting"]) == {"article", "cn"}
    pd.testing.assert_frame_equal(ra, rb)  # exact: same jobs, same threads, same seeds
    jobs = pd.read_csv(b / "study_jobs.csv")
    assert list(jobs["kind"]).count("train") == 4 and (jobs["status"] == "ok").all()


@pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                    reason="ray is not installed (pip install 'attrlab[ray]'); the Ray backend cannot be tested")
def test_ray_backend_gives_the_same_records_as_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTRLAB_CACHE", str(tmp_path / "cache1"))
    a = run_study(_text_study("0"), tmp_path / "one", progress=False, report=False)
    monkeypatch.setenv("ATTRLAB_CACHE", str(tmp_path / "cache2"))
    b = run_study(_text_study("0"), tmp_path / "ray", workers=2, backend="ray", progress=False, report=False)
    pd.testing.assert_frame_equal(_records(a), _records(b))


def test_a_study_killed_midway_resumes_to_the_same_records(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text('name = "kill"\nseeds = "0-3"\n[[run]]\nenvironment = "attributionlab"\n'
                     'methods = ["gradient", "integrated_gradients", "occlusion"]\n'
                     'options = { n_images = 3, size = 32 }\n')
    env = {**os.environ, "ATTRLAB_CACHE": str(tmp_path / "cache")}
    cmd = [sys.executable, "-m", "attrlab.cli", "study", str(study), "--no-progress"]
    reference = subprocess.run(cmd + ["--out", str(tmp_path / "ref")], env=env, capture_output=True, text=True)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    proc = subprocess.Popen(cmd + ["--out", str(out)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((out / "units").glob("*/study-job.json")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list((out / "units").glob("*/study-job.json")))
    assert 1 <= done < 4, "the kill should land mid-study"
    resumed = subprocess.run(cmd + ["--out", str(out)], env=env, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    pd.testing.assert_frame_equal(_records(tmp_path / "ref"), _records(out))


def test_a_worker_process_ends_when_its_parent_is_killed_alone(tmp_path):
    """SIGKILL to the main process only (not its group): the spawned worker must not go on."""
    script = tmp_path / "parent.py"
    script.write_text(
        "import multiprocessing, os, sys, time\n"
        "from concurrent.futures import ProcessPoolExecutor\n"
        "from attrlab.executors import _worker_init\n"
        "def job():\n"
        "    print(os.getpid(), flush=True); time.sleep(120)\n"
        "if __name__ == '__main__':\n"
        "    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context('spawn'), initializer=_worker_init)\n"
        "    pool.submit(job); time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                              start_new_session=True)
    worker = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    for _ in range(100):  # the watchdog polls once a second
        try:
            os.kill(worker, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its parent by 10 s")


def test_spread_is_over_models_and_over_samples_when_one_model_and_marks_unverified():
    rec = pd.DataFrame({"environment": "e", "setting": "s", "method": "m", "metric": "f1", "status": "ok",
                        "unit": ["u0", "u0", "u1", "u1", "u2", "u2"], "seed": [0, 0, 1, 1, 2, 2],
                        "verified": [True, True, True, True, False, False], "value": [0.2, 0.4, 0.6, 0.8, 0.0, 0.0]})
    row = spread(rec).iloc[0]
    assert row["mean"] == pytest.approx(0.5) and row["n_models"] == 2 and row["n_unverified"] == 1
    assert row["std"] == pytest.approx(np.std([0.3, 0.7], ddof=1)) and row["ci_over"] == "models"
    assert 0.3 <= row["ci_low"] <= row["ci_high"] <= 0.7
    one = spread(rec[rec["unit"] == "u0"]).iloc[0]
    assert one["ci_over"] == "samples" and one["std"] == pytest.approx(np.std([0.2, 0.4], ddof=1))
    none = spread(rec[rec["unit"] == "u2"]).iloc[0]
    assert not none["evidence"]


def _attention_records(focus_by_seed, freq=0.079):
    rows = []
    for seed, values in enumerate(focus_by_seed):
        for i, v in enumerate(values):
            rows.append({"unit": f"u{seed}", "environment": "text-attention", "setting": "article", "seed": seed,
                         "method": "attention", "sample": i, "metric": "mass_focus", "value": v, "status": "ok",
                         "verified": True, "group_freq_correlating": freq})
    return pd.DataFrame(rows)


def test_paper_values_are_judged_by_the_stated_rules():
    values = paper_values()
    assert {"mean", "greater", "above", "below"} <= set(values["rule"])
    # Table 1 Article: 10.3% ± 2.4% over 11 runs; ours near it agrees, far from it disagrees
    near = compare_to_papers(_attention_records([[0.09, 0.11], [0.10, 0.12], [0.11, 0.09]]))
    table1 = near[(near["source"] == "Table 1") & (near["metric"] == "mass_focus")]
    assert list(table1["verdict"]) == ["agree"]
    far = compare_to_papers(_attention_records([[0.85, 0.9], [0.88, 0.86], [0.9, 0.92]]))
    assert list(far[far["source"] == "Table 1"]["verdict"]) == ["disagree"]
    # §6.1: attention above the articles' word frequency, per model
    above = far[far["rule"] == "greater"].iloc[0]
    assert above["verdict"] == "agree" and above["ours"] == pytest.approx(np.mean([0.875, 0.87, 0.91]) - 0.079)
    below = compare_to_papers(_attention_records([[0.01, 0.02], [0.03, 0.01]]))
    assert below[below["rule"] == "greater"].iloc[0]["verdict"] == "disagree"
    # statements about environments that were not run are left out
    assert set(near["environment"]) == {"text-attention"}


def _smerf_records(pafl):
    """SMERF records: ``pafl(setting, bucket, n_objects, seed, method)`` for 2 buckets x 2 samples."""
    rows = []
    for setting in ("simple-fr", "simple-nr", "complex-fr", "complex-cr1"):
        for seed in range(3):
            for method in ("integrated_gradients", "gradient"):
                for bucket, n_objects in ((0, 0), (1, 1), (2, 3)):  # bucket 0: nothing to focus on, no PAFL
                    for i in range(2):
                        rows.append({"unit": f"u{seed}", "environment": "smerf", "setting": setting,
                                     "seed": seed, "method": method, "sample": 2 * bucket + i, "metric": "mass_focus",
                                     "value": (pafl(setting, bucket, n_objects, seed, method) + 0.01 * i
                                               if n_objects else float("nan")),
                                     "status": "ok", "verified": True, "group_bucket": bucket,
                                     "group_n_objects": n_objects})
    return pd.DataFrame(rows)


def test_smerf_statements_judge_the_threshold_the_objects_and_the_worst_bucket():
    # simple: IG well above 0.5, gradient below; PAFL falls with objects; complex worst bucket low
    def pafl(setting, bucket, n_objects, seed, method):
        base = (0.8 if method == "integrated_gradients" else 0.3) - 0.1 * (n_objects - 1) + 0.01 * seed
        return base - (0.4 * (bucket == 2) if setting.startswith("complex") else 0.0)

    table = compare_to_papers(_smerf_records(pafl))
    fig6a = table[table["source"] == "§4.2 / Fig. 6a"].set_index(["setting", "method"])["verdict"]
    assert fig6a[("simple-fr", "integrated_gradients")] == "agree" and fig6a[("simple-nr", "gradient")] == "agree"
    assert set(table[table["source"] == "§4.2 / Fig. 6a"]["verdict"]) <= {"agree", "not run"}
    fig6b = table[table["source"] == "§4.2 / Fig. 6b"]
    assert list(fig6b["verdict"]) == ["agree", "agree"]
    assert fig6b["ours"].tolist() == pytest.approx([0.2, 0.2])  # 1 object vs 3: 0.1 per added object
    fig8b = table[table["source"] == "§4.2 / Fig. 8b"]
    # worst bucket: simple's bucket 2 (mean over methods 0.35 + seed) vs complex's bucket 2 (0.4 lower)
    assert list(fig8b["verdict"]) == ["agree", "agree"] and fig8b["ours"].tolist() == pytest.approx([0.4, 0.4])
    # the reverse data (objects raise PAFL) disagree
    flipped = compare_to_papers(_smerf_records(lambda s, b, n, seed, m: 0.2 + 0.1 * n + 0.01 * seed))
    assert set(flipped[flipped["source"] == "§4.2 / Fig. 6b"]["verdict"]) == {"disagree"}


def test_cli_seeds_run_a_study_and_report_rebuilds_it(tmp_path, capsys):
    out = tmp_path / "st"
    code = main(["run", "attributionlab", "--seeds", "0-1", "--methods", "gradient,random", "--set", "n_images=2",
                 "--set", "size=32", "--out", str(out), "--no-progress"])
    assert code == 0
    study = json.loads((out / "study.json").read_text())
    assert [u["name"] for u in study["units"]] == ["attributionlab-s0", "attributionlab-s1"]
    summary = pd.read_csv(out / "summary.csv")
    assert {"mean", "std", "ci_low", "ci_high", "n_models"} <= set(summary.columns)
    assert (summary["n_models"] == 2).all()
    html = (out / "report.html").read_text()
    assert "Paper vs attrlab" in html and "n=2" in html and "data:image/png;base64" in html
    (out / "report.html").unlink()
    assert main(["report", str(out)]) == 0 and (out / "report.html").exists()


def test_cli_refuses_a_bad_study_in_one_line(tmp_path, capsys):
    assert main(["study", str(tmp_path / "nope.toml")]) == 2
    err = capsys.readouterr().err
    assert "does not exist" in err and "zhou2022-table1-quick" in err and len(err.strip().splitlines()) == 1
    assert main(["run", "attributionlab", "--seeds", "5-1"]) == 2
    assert "backwards" in capsys.readouterr().err


def test_shipped_study_files_plan():
    root = Path(__file__).parents[1] / "attrlab" / "studies"
    files = sorted(root.glob("*.toml"))
    assert len(files) >= 8
    for f in files:
        assert plan(Study.from_toml(f)).jobs, f.name
    table1 = plan(Study.from_toml(root / "zhou2022-table1-quick.toml"))
    assert len(table1.units) == 11 and len(table1.training) == 33


def test_execute_plan_refuses_unknown_backend_and_bad_workers(tmp_path):
    p = plan(Study.from_dict({"run": [{"environment": "attributionlab"}]}))
    with pytest.raises(AttrlabError, match="unknown backend"):
        execute_plan(p, tmp_path, backend="spark")
    with pytest.raises(AttrlabError, match="positive integer"):
        execute_plan(p, tmp_path, workers=0)


def test_a_study_and_a_single_run_never_share_a_folder(tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["run", "attributionlab", "--methods", "random", "--set", "n_images=2", "--set", "size=32",
                 "--out", str(run_dir), "--no-progress"]) == 0
    assert main(["run", "attributionlab", "--seeds", "0-1", "--methods", "random", "--out", str(run_dir)]) == 2
    assert "holds a single run" in capsys.readouterr().err
    study_dir = tmp_path / "study"
    run_study(Study.from_dict({"run": [{"environment": "attributionlab", "methods": ["random"],
                                        "options": {"n_images": 2, "size": 32}}]}), study_dir, progress=False,
              report=False)
    assert main(["run", "attributionlab", "--methods", "random", "--out", str(study_dir), "--no-progress"]) == 2
    assert "holds a study" in capsys.readouterr().err


def _halved_gradient(model, inputs, targets):
    x = inputs.detach().clone().requires_grad_(True)
    model(x).gather(1, targets.view(-1, 1)).sum().backward()
    return 0.5 * x.grad


def test_a_python_function_is_a_study_method_too(tmp_path):
    study = Study.from_dict({"seeds": "0", "run": [{"environment": "attributionlab", "methods": [_halved_gradient],
                                                    "options": {"n_images": 2, "size": 32}}]})
    out = run_study(study, tmp_path / "fn", progress=False, report=False)
    assert set(_records(out)["method"]) == {"_halved_gradient"}
