"""Executors on the quick Zhou Table 1 study (11 seeds x 3 data sets, attention): wall time of
``--workers 1``, ``--workers 2`` and ``--backend ray`` (local Ray, 2 CPUs), each from an empty
model cache, with the same torch threads per job (1), and whether their records are identical.

    python benchmarks/bench_study.py [--study zhou2022-table1-quick] [--out /tmp/bench-study]

Targets (issue 12): workers 2 >= 1.6x faster than workers 1; Ray within 1.3x of workers 2.
Run it on a quiet machine: the cores are the resource measured.
"""
import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--study", default="zhou2022-table1-quick")
    ap.add_argument("--out", default="/tmp/bench-study")
    ap.add_argument("--only", default="w1,w2,ray")
    args = ap.parse_args()
    root = Path(args.out)
    configs = {"w1": ["--workers", "1"], "w2": ["--workers", "2"], "ray": ["--workers", "2", "--backend", "ray"]}
    walls = {}
    for name in args.only.split(","):
        out, cache = root / name, root / f"cache-{name}"
        shutil.rmtree(out, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)
        env = {**os.environ, "ATTRLAB_CACHE": str(cache)}
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "attrlab.cli", "study", args.study, "--out", str(out), "--no-progress",
                        *configs[name]], env=env, check=True, stdout=subprocess.DEVNULL)
        walls[name] = time.perf_counter() - t0
        jobs = pd.read_csv(out / "study_jobs.csv")
        print(f"{name}: {walls[name]:.1f} s wall, {len(jobs)} jobs, job seconds summed {jobs['seconds'].sum():.1f}",
              flush=True)
    names = list(walls)
    ref = pd.read_csv(root / names[0] / "records.csv")
    for name in names[1:]:
        same = ref.equals(pd.read_csv(root / name / "records.csv"))
        print(f"records {names[0]} == {name}: {same}")
    if "w1" in walls and "w2" in walls:
        print(f"speed-up workers 2 / workers 1: {walls['w1'] / walls['w2']:.2f}x (target >= 1.6x)")
    if "w2" in walls and "ray" in walls:
        n = len(pd.read_csv(root / "ray" / "study_jobs.csv"))
        print(f"ray / workers 2: {walls['ray'] / walls['w2']:.2f}x (target <= 1.3x); "
              f"overhead per job {(walls['ray'] - walls['w2']) / n:.2f} s over {n} jobs")


if __name__ == "__main__":
    main()
