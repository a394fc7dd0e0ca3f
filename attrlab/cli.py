"""``attrlab`` command line: run, report, list.

    attrlab run [ENV ...] [--quick|--full] [--methods a,b] [--settings s] [--out DIR] [--seed N] [--device D]
    attrlab report DIR
    attrlab list methods|environments
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import AttrlabError


def _parse_options(items: list[str]) -> dict:
    opts = {}
    for item in items or []:
        if "=" not in item:
            raise AttrlabError(f"--set takes KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        opts[k.strip()] = v.strip()
    return opts


def _env_options(args) -> dict:
    opts = _parse_options(args.set)
    for key in ("background", "images", "experiment", "manipulation", "classes", "r", "corpus"):
        if getattr(args, key) is not None:
            opts[key] = getattr(args, key)
    return opts


def _split(text: str | None) -> list[str] | None:
    """Split a comma-separated list (method parameters use ':' and '=', never ',')."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def build_parser() -> argparse.ArgumentParser:
    from .environments import ENVIRONMENTS

    p = argparse.ArgumentParser(prog="attrlab", description="Test feature-attribution methods against ground truth.")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run environments × methods and write records, verification and a report")
    r.add_argument("environments", nargs="*", metavar="ENV",
                   help=f"environment(s): {', '.join(sorted(ENVIRONMENTS))}; none = the embedded default "
                        "(the quick preset of attributionlab)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick", help="small preset (default)")
    g.add_argument("--full", dest="preset", action="store_const", const="full", help="the paper-sized preset")
    r.add_argument("--methods", help="comma-separated method specs (name or name:key=value:...); default: all")
    r.add_argument("--settings", help="comma-separated settings of the environment; default: all")
    r.add_argument("--out", help="output folder (default runs/<env>); a rerun resumes what is missing")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    r.add_argument("--batch-size", type=int, default=8)
    r.add_argument("--threshold", type=float, default=0.01, help="relative binarisation threshold for precision/recall")
    r.add_argument("--set", action="append", metavar="KEY=VALUE", help="environment option, e.g. --set n_images=16")
    r.add_argument("--background", help="smerf: black, noise or natural")
    r.add_argument("--images", help="smerf: a folder of your own images for natural backgrounds; semi-natural-image: "
                   "a class folder (root/<class>/* as ImageFolder and CUB-200)")
    r.add_argument("--classes", help="semi-natural-image: two class folders of --images, comma-separated")
    r.add_argument("--experiment", help="semi-natural-image: er (default), accuracy, visibility, correlation")
    r.add_argument("--manipulation", help="semi-natural-image: blur, brightness, hue, noise, watermark (comma-separated)")
    r.add_argument("--r", type=float, help="semi-natural-image: label-preservation rate r (default 0.5)")
    r.add_argument("--corpus", help="text-attention: a .txt (one document per line), .csv/.jsonl (column text) or "
                   "hf:NAME[:SPLIT[:COLUMN]]; default: Python's own prose")
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    r.set_defaults(preset="quick")
    rep = sub.add_parser("report", help="rebuild tables, figures and report.html from a run folder's records")
    rep.add_argument("folder")
    ls = sub.add_parser("list", help="list registered methods or environments")
    ls.add_argument("what", choices=["methods", "environments"])
    ls.add_argument("-v", "--verbose", action="store_true", help="with descriptions and parameters")
    return p


def _cmd_run(args) -> int:
    from .environments import ENVIRONMENTS, get_environment
    from .evaluation import MetricConfig
    from .runner import RunConfig, run

    names = args.environments or sorted(n for n, m in ENVIRONMENTS.items() if getattr(m, "IN_DEFAULT_RUN", True))
    for name in names:
        get_environment(name)
    if args.out and len(names) > 1:
        outs = {n: Path(args.out) / n for n in names}
    else:
        outs = {n: Path(args.out) if args.out else Path("runs") / n for n in names}
    for name in names:
        cfg = RunConfig(environment=name, out_dir=outs[name], preset=args.preset, seed=args.seed, device=args.device,
                        methods=_split(args.methods), settings=_split(args.settings), batch_size=args.batch_size,
                        metrics=MetricConfig(threshold=args.threshold), options=_env_options(args),
                        progress=not args.no_progress)
        out = run(cfg)
        _print_headline(out)
    return 0


def _print_headline(out: Path) -> None:
    import json

    from .report import failures, load_records, summary

    records = load_records(out)
    table = summary(records)
    verdict = json.loads((out / "verification.json").read_text()).get("passed")
    print(f"\n{out}: model {'verified' if verdict else 'NOT VERIFIED'}; {records['method'].nunique()} methods")
    cols = [c for c in ("overall_f1", "positive_f1", "negative_f1", "mass_focus", "mass_avoid", "iou_focus")
            if c in table.columns]
    if cols:
        for setting in dict.fromkeys(table.index.get_level_values(0)):
            t = table.loc[setting, cols].sort_values(cols[0], ascending=False)
            print(f"\n[{setting}]")
            print(t.to_string(float_format=lambda v: f"{v:.3f}"))
    bad = failures(records)
    if len(bad):
        print(f"\n{len(bad)} method/setting pair(s) failed; see the report's Failures table")
    print(f"\nreport: {out / 'report.html'}")


def _cmd_report(args) -> int:
    from .report import build_report

    path = build_report(Path(args.folder))
    print(path)
    return 0


def _cmd_list(args) -> int:
    if args.what == "methods":
        from .methods import describe, list_methods

        for name in list_methods():
            if args.verbose:
                info = describe(name)
                params = ", ".join(f"{k}={v}" for k, v in info.defaults.items())
                print(f"{name:22s} ({info.modality}) {info.description}" + (f" [{params}]" if params else ""))
            else:
                print(name)
    else:
        from .environments import ENVIRONMENTS

        for name, module in sorted(ENVIRONMENTS.items()):
            print(f"{name:18s} settings: {', '.join(module.SETTINGS)}" if args.verbose else name)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return {"run": _cmd_run, "report": _cmd_report, "list": _cmd_list}[args.command](args)
    except AttrlabError as e:
        print(f"attrlab: error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and the like: stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        print("attrlab: interrupted; finished jobs are kept and a rerun with the same --out resumes", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
