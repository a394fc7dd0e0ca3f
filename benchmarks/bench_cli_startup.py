"""Benchmark: how fast the command line's first screen answers — a user's first commands
(``attrlab --help``, ``attrlab run --help``, ``attrlab list environments -v``) must answer in well
under a second (goal: < 1 s each), which holds while they import no build (torch, the models):
environments are declared in light ``*_spec.py`` modules and attrlab's top-level names load on
first use.

    python benchmarks/bench_cli_startup.py            # best of 5 runs each, in a fresh process

Prints each command's wall time and whether torch was imported on the way.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time

COMMANDS = (["--help"], ["run", "--help"], ["list", "environments", "-v"], ["--version"])
GOAL_S = 1.0
PROBE = ("import sys, contextlib, io\n"
         "from attrlab.cli import main\n"
         "with contextlib.redirect_stdout(io.StringIO()):\n"
         "    try:\n"
         "        main({argv!r})\n"
         "    except SystemExit:\n"
         "        pass\n"
         "print('torch' in sys.modules)\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    worst = 0.0
    for argv in COMMANDS:
        times, torch_loaded = [], None
        for _ in range(args.repeat):
            start = time.perf_counter()
            out = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], capture_output=True, text=True,
                                 check=True)
            times.append(time.perf_counter() - start)
            torch_loaded = out.stdout.strip().splitlines()[-1] == "True"
        best = min(times)
        worst = max(worst, best)
        print(f"attrlab {' '.join(argv):<24} {best:6.2f} s   torch imported: {torch_loaded}")
    print(f"goal: each < {GOAL_S:.1f} s — {'met' if worst < GOAL_S else 'NOT met'}")
    return 0 if worst < GOAL_S else 1


if __name__ == "__main__":
    sys.exit(main())
