"""Benchmark: `attrlab check METHOD --quick` wall time, with the fixtures' models already cached
(the target: at most 5 minutes on 2 CPU cores). The first call warms the model cache.

    python benchmarks/bench_check.py                       # gradient, integrated_gradients
    python benchmarks/bench_check.py lime kernel_shap       # any methods
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time

methods = sys.argv[1:] or ["gradient", "integrated_gradients"]
out = tempfile.mkdtemp()
t0 = time.perf_counter()
subprocess.run([sys.executable, "-m", "attrlab.cli", "check", "random", "--out", out, "--no-progress"],
               capture_output=True, text=True)
print(f"warm-up (builds or loads the cached fixture models): {time.perf_counter() - t0:.1f} s")
for method in methods:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "attrlab.cli", "check", method, "--quick", "--out", out,
                           "--no-progress"], capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    verdict = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr.strip()[-200:]
    print(f"attrlab check {method} --quick: {seconds:.1f} s ({verdict.split(';')[0]}), "
          f"{'within' if seconds <= 300 else 'OVER'} the 5-minute target")
