"""``attrlab`` command line: run, report, list.

    attrlab run [ENV ...] [--quick|--full] [--methods a,b] [--settings s] [--out DIR] [--seed N] [--device D]
    attrlab run ENV --seeds 0-10 [--workers N] [--backend local|ray] [--address A]   (a study)
    attrlab study FILE.toml [--out DIR] [--workers N] [--backend local|ray] [--address A]
    attrlab report DIR
    attrlab compare RUN [RUN ...] [--out DIR] [--metric M]
    attrlab meta RUN_OR_STUDY [...] [--out DIR]
    attrlab evaluate --model REF [--weights FILE] --images DIR | --corpus FILE [--vocab V] [--methods a,b]
    attrlab check METHOD [--quick]
    attrlab list methods|environments|metrics
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .errors import AttrlabError, warning_line


def _parse_options(items: list[str]) -> dict:
    opts = {}
    for item in items or []:
        if "=" not in item:
            raise AttrlabError(f"--set takes KEY=VALUE, got '{item}'")
        k, v = item.split("=", 1)
        opts[k.strip()] = v.strip()
    return opts


def _flag_options() -> dict[str, list]:
    """Declared options offered as their own flags: name → [(environment, Option), ...]."""
    from .environments import get_environment, list_environments

    flags: dict[str, list] = {}
    for name in list_environments():
        for opt in get_environment(name).spec.options:
            if opt.flag:
                flags.setdefault(opt.name, []).append((name, opt))
    return flags


def _env_options(args, environment: str) -> dict:
    """``--set`` values and the option flags given; a flag the environment does not declare is refused."""
    from .environments import get_environment

    opts = _parse_options(args.set)
    spec = get_environment(environment).spec
    for key in _flag_options():
        value = getattr(args, key, None)
        if value is None:
            continue
        if key not in {o.name for o in spec.options}:
            raise AttrlabError(f"--{key} does not apply to {environment}; its options: "
                               f"{', '.join(o.name for o in spec.options)}")
        opts[key] = value
    return opts


def _split(text: str | None) -> list[str] | None:
    """Split a comma-separated list (method parameters use ':' and '=', never ',')."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def _bounded(kind: type, low: float, high: float | None = None, below: str = "must be at least {low}"):
    """An argparse type: ``kind`` within [low, high) (high excluded), with the error said in words."""
    def convert(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"'{text}' is not {'an integer' if kind is int else 'a number'}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{value} " + below.format(low=low))
        if high is not None and not value < high:
            raise argparse.ArgumentTypeError(f"{value} must lie in [{low}, {high})")
        return value
    return convert


_positive_int = _bounded(int, 1)
_seed = _bounded(int, 0, below="is negative; seeds are 0 or more")
_fraction = _bounded(float, 0.0, 1.0, below="must lie in [0, 1)")


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad argument is one line on stderr (``attrlab: error: ...``) and exit 2."""

    def error(self, message: str):
        command = " ".join(self.prog.split()[1:])
        self.exit(2, f"attrlab: error: {message} (attrlab {command + ' ' if command else ''}-h for help)\n")


IMAGE_METHODS = "gradient,integrated_gradients,smoothgrad,gradcam,occlusion,random"
TEXT_METHODS = "embedding_gradient,embedding_ig,attention,attention_rollout,random"


def build_parser() -> argparse.ArgumentParser:
    from .environments import list_environments

    from .version import __version__

    p = _Parser(prog="attrlab", description="Test feature-attribution methods against ground truth.")
    p.add_argument("--version", action="version", version=f"attrlab {__version__}")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    r = sub.add_parser("run", help="run environments × methods and write records, verification and a report")
    r.add_argument("environments", nargs="*", metavar="ENV",
                   help=f"environment(s): {', '.join(list_environments())}, or a .py file that registers yours; "
                        "none = the embedded default "
                        "(the quick presets of the environments marked default in `attrlab list environments -v`)")
    g = r.add_mutually_exclusive_group()
    g.add_argument("--quick", dest="preset", action="store_const", const="quick", help="small preset (default)")
    g.add_argument("--full", dest="preset", action="store_const", const="full", help="the paper-sized preset")
    r.add_argument("--methods", help="comma-separated method specs (name or name:key=value:...); default: all")
    r.add_argument("--settings", help="comma-separated settings of the environment; default: all")
    r.add_argument("--out", help="output folder (default runs/<env>); a rerun resumes what is missing")
    r.add_argument("--seed", type=_seed, default=0)
    r.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    r.add_argument("--batch-size", type=_positive_int, default=8)
    r.add_argument("--threshold", type=_fraction, default=0.01,
                   help="relative binarisation threshold for precision/recall")
    r.add_argument("--auto-metrics", default="default", metavar="LIST",
                   help="automatic (ground-truth-free) metrics computed on every map: default, all, none, or "
                        "comma-separated specs (name or name:key=value; +name adds to the defaults; module:function "
                        "for your own); `attrlab list metrics -v` shows them")
    r.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="environment option, e.g. --set n_images=16 (`attrlab list environments -v` lists them)")
    for name, owners in _flag_options().items():  # generated from the environments' declared options
        r.add_argument(f"--{name.replace('_', '-')}", dest=name,
                       help="; ".join(f"{env}: {opt.help}" for env, opt in owners))
    r.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _study_arguments(r, seeds=True)
    r.set_defaults(preset="quick")
    st = sub.add_parser("study", help="run a study file (TOML: environments x settings x seeds x methods x option "
                        "grids; see studies/) and report spread over seeds and the papers' values")
    st.add_argument("file", help="a study file, e.g. studies/zhou2022-table1-quick.toml")
    st.add_argument("--out", help="the study folder (default runs/<study name>); a rerun resumes what is missing")
    st.add_argument("--device", default="auto", help="auto (GPU when present), cpu, cuda, cuda:N")
    st.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    _study_arguments(st, seeds=False)
    rep = sub.add_parser("report", help="rebuild tables, figures and report.html from a run folder's records "
                         "(a folder of several runs: their comparison)")
    rep.add_argument("folder")
    cmp_ = sub.add_parser("compare", help="one table across run folders: each method's headline score and rank "
                          "per environment, its mean rank with a 95%% interval")
    cmp_.add_argument("runs", nargs="+", metavar="RUN", help="run folders, or folders holding runs")
    cmp_.add_argument("--out", help="where compare.csv/.png and the merged records go (default: compare/ beside "
                      "the first run)")
    cmp_.add_argument("--include-unverified", action="store_true",
                      help="keep runs whose model did not verify (their column marked '(unverified)')")
    cmp_.add_argument("--metric", help="rank by this recorded metric (e.g. deletion, road_morf) instead of each "
                      "environment's headline; its declared direction decides which way is better")
    mt = sub.add_parser("meta", help="meta-evaluation: does each automatic (ground-truth-free) metric rank methods "
                        "as the ground truth does? τ, regret, pairwise accuracy with 95%% intervals over models")
    mt.add_argument("runs", nargs="+", metavar="RUN_OR_STUDY", help="run folders, study folders, or folders of runs")
    mt.add_argument("--out", help="where metaeval.csv, meta.html and figures go (default: meta/ beside the first)")
    mt.add_argument("--include-unverified", action="store_true",
                    help="keep methods of models that did not verify (their rows are marked verified=False) and ground "
                    "truth that is only plausible (the grid pointing game)")
    ev = sub.add_parser("evaluate", help="your own trained model and images or documents, no ground truth: the "
                        "automatic metrics of each method's maps, each beside how far the meta-evaluation found it "
                        "can be trusted")
    ev.add_argument("--model", required=True, help="module:Class, file.py:factory, torchvision.models:resnet18, or "
                    "hf:DIR (a Hugging Face sequence classifier saved with its tokenizer)")
    ev.add_argument("--weights", help="a state dict (.pt, tensors only) for the model")
    data = ev.add_mutually_exclusive_group(required=True)
    data.add_argument("--images", help="a folder of images, DIR/<class>/* or DIR/*")
    data.add_argument("--corpus", help="documents: .txt (one per line), .csv/.jsonl (column text)")
    ev.add_argument("--corpus-format", default="", choices=("", "txt", "csv", "jsonl"),
                    help="the corpus file's format when its name does not say it")
    ev.add_argument("--vocab", help="your text model's vocabulary: one token per line (line index = id, 0 = "
                    "padding) or a .json {token: id}; not needed for hf:DIR")
    ev.add_argument("--methods", help=f"comma-separated method specs (default: images {IMAGE_METHODS}; "
                    f"text {TEXT_METHODS}, those the model offers)")
    ev.add_argument("--classes", type=_positive_int, help="the model's number of classes (default: the class "
                    "folders; text: the checkpoint's labels, else 2)")
    ev.add_argument("--side", type=_positive_int, default=64, help="image side in pixels (default 64)")
    ev.add_argument("--max-len", type=_positive_int, default=150, help="tokens per document at most (default 150)")
    ev.add_argument("--limit", type=_positive_int, default=16, help="images per class, or documents (default 16)")
    ev.add_argument("--auto-metrics", default="default", metavar="LIST", help="as for attrlab run")
    ev.add_argument("--trust", help="a metaeval.csv of your own (default: the one shipped with attrlab)")
    ev.add_argument("--batch-size", type=_positive_int, default=8)
    ev.add_argument("--device", default="auto")
    ev.add_argument("--out", default="runs/evaluate")
    ev.add_argument("--no-progress", action="store_true")
    chk = sub.add_parser("check", help="a method's verdict: contract, sanity and ground-truth checks, each passing, "
                         "failing with its reason or skipped")
    chk.add_argument("methods", nargs="*", metavar="METHOD",
                     help="method specs or references (module:function, file.py:function, captum.attr:Class)")
    chk.add_argument("--all", action="store_true", help="every registered image and text method")
    g2 = chk.add_mutually_exclusive_group()
    g2.add_argument("--quick", dest="quick", action="store_true", default=True, help="small fixtures (default)")
    g2.add_argument("--full", dest="quick", action="store_false", help="more test samples per check")
    chk.add_argument("--groups", default="contract,sanity,ground truth", help="comma-separated check groups")
    chk.add_argument("--out", default="runs/check", help="where check.html and check.csv go")
    chk.add_argument("--no-progress", action="store_true")
    ls = sub.add_parser("list", help="list registered methods, environments or metrics")
    ls.add_argument("what", choices=["methods", "environments", "metrics"])
    ls.add_argument("-v", "--verbose", action="store_true", help="with descriptions and parameters")
    return p


def _study_arguments(p: argparse.ArgumentParser, seeds: bool) -> None:
    if seeds:
        p.add_argument("--seeds", help="a study over seeds: a list or ranges, e.g. 0-10 or 0,1,2 (one unit folder "
                       "per seed, spread over seeds in the report)")
    p.add_argument("--workers", type=_positive_int, default=1, help="jobs run in N local processes (or Ray CPUs)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="local processes, or Ray tasks (pip install 'attrlab[ray]')")
    p.add_argument("--address", help="an existing Ray cluster's address (e.g. auto); default: a local Ray")
    p.add_argument("--threads", type=_positive_int, default=1,
                   help="torch threads per study job (records depend on it; keep it when comparing executors)")


def _is_study_run(args) -> bool:
    return bool(args.seeds) or args.workers > 1 or args.backend != "local" or bool(args.address)


def _cmd_run(args) -> int:
    from .environments import get_environment, list_environments
    from .evaluation import MetricConfig
    from .runner import RunConfig, run

    names, files = [], []
    for name in args.environments:
        if name.endswith(".py"):
            names += _environments_in(name)
            files.append(name)
        else:
            names.append(name)
    names = names or [n for n in list_environments() if get_environment(n).spec.in_default_run]
    options = {name: _env_options(args, name) for name in names}  # unknown names and flags fail before any work
    for name in names:
        get_environment(name).resolve(args.preset, options[name])
    if _is_study_run(args):
        return _run_study_from_args(args, names, options, files)
    if args.out and len(names) > 1:
        outs = {n: Path(args.out) / n for n in names}
    else:
        outs = {n: Path(args.out) if args.out else Path("runs") / n for n in names}
    for name in names:
        cfg = RunConfig(environment=name, out_dir=outs[name], preset=args.preset, seed=args.seed, device=args.device,
                        methods=_split(args.methods), settings=_split(args.settings), batch_size=args.batch_size,
                        metrics=MetricConfig(threshold=args.threshold, automatic=args.auto_metrics),
                        options=options[name],
                        progress=not args.no_progress)
        out = run(cfg)
        _print_headline(out)
    return 0


def _run_study_from_args(args, names: list[str], options: dict, files: list[str]) -> int:
    """``attrlab run ENV --seeds ...``: the same run as a study (one unit per environment and seed)."""
    from .study import Study, parse_seeds, run_study

    seeds = parse_seeds(args.seeds) if args.seeds else [args.seed]
    study = Study.from_dict({"name": "-".join(names), "seeds": seeds, "preset": args.preset, "batch_size": args.batch_size,
                             "threshold": args.threshold, "auto_metrics": args.auto_metrics,
                             "run": [{"environment": n, "options": options[n],
                                      **({"methods": _split(args.methods)} if args.methods else {}),
                                      **({"settings": _split(args.settings)} if args.settings else {})} for n in names]})
    out = Path(args.out) if args.out else Path("runs") / f"{study.name}-seeds{_slug_seeds(seeds)}"
    run_study(study, out, workers=args.workers, backend=args.backend, address=args.address, device=args.device,
              threads=args.threads, env_files=tuple(files), progress=not args.no_progress)
    _print_study(out)
    return 0


def _slug_seeds(seeds: list[int]) -> str:
    """``[0, 1, 2, 7]`` → ``0-2,7``: the default study folder says which seeds it holds."""
    parts, start = [], seeds[0]
    for prev, cur in zip(seeds, seeds[1:] + [None]):
        if cur is None or cur != prev + 1:
            parts.append(f"{start}-{prev}" if prev != start else f"{start}")
            start = cur
    return ",".join(parts)


def _cmd_study(args) -> int:
    from .study import Study, run_study

    study = Study.from_toml(_study_file(args.file))
    out = Path(args.out) if args.out else Path("runs") / study.name
    run_study(study, out, workers=args.workers, backend=args.backend, address=args.address, device=args.device,
              threads=args.threads, progress=not args.no_progress)
    _print_study(out)
    return 0


def _study_file(name: str) -> Path:
    """A study file's path, or the name of one shipped with attrlab (``attrlab study smerf2021-quick``)."""
    path = Path(name)
    if path.exists():
        return path
    shipped = Path(__file__).parent / "studies" / (path.name if path.suffix == ".toml" else f"{path.name}.toml")
    if shipped.exists():
        return shipped
    names = sorted(p.stem for p in (Path(__file__).parent / "studies").glob("*.toml"))
    raise AttrlabError(f"study file {name} does not exist; shipped studies: {', '.join(names)}")


def _print_study(out: Path) -> None:
    import pandas as pd

    jobs = pd.read_csv(out / "study_jobs.csv", keep_default_na=False)
    failed = jobs[jobs["status"] != "ok"]
    print(f"\n{out}: {len(jobs)} jobs, {len(failed)} failed")
    for _, row in failed.head(10).iterrows():
        print(f"  {row['unit']} {row['kind']} {row['setting']}: {row['error']}")
    papers = out / "paper_vs_attrlab.csv"
    if papers.exists():
        table = pd.read_csv(papers)
        if len(table):
            counts = table["verdict"].value_counts().to_dict()
            print("paper vs attrlab: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    if (out / "report.html").exists():
        print(f"report: {out / 'report.html'}")


def _environments_in(path: str) -> list[str]:
    """Run a Python file that registers environments (docs/ARCHITECTURE.md) and name what it added."""
    import runpy

    from .environments import list_environments

    if not Path(path).is_file():
        raise AttrlabError(f"environment file {path} does not exist")
    before = set(list_environments())
    try:
        runpy.run_path(path, run_name="attrlab_environment_file")
    except AttrlabError:
        raise
    except Exception as exc:
        raise AttrlabError(f"{path} failed: {type(exc).__name__}: {exc}") from None
    added = sorted(set(list_environments()) - before)
    if not added:
        raise AttrlabError(f"{path} registered no environment (decorate its build with @register_environment(SPEC))")
    return added


def _print_headline(out: Path) -> None:
    import json

    from .core import Verification
    from .report import failures, load_records, summary

    records = load_records(out)
    table = summary(records)
    verification = json.loads((out / "verification.json").read_text())
    verdict = verification.get("passed")
    print(f"\n{out}: model {'verified' if verdict else 'NOT VERIFIED'}; {records['method'].nunique()} methods")
    for setting, v in (verification.get("settings") or {}).items():
        if isinstance(v, dict) and not v.get("passed"):
            print(f"  {setting}: {Verification.from_dict(v).why_not()}")
    config = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
    headline = (config.get("headline") or {}).get("metric")
    cols = [c for c in dict.fromkeys([headline, "overall_f1", "positive_f1", "negative_f1", "mass_focus", "mass_avoid",
                                      "iou_focus"]) if c and c in table.columns]
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

    folder = Path(args.folder)
    if (folder / "study.json").exists():
        from .report.study import build_study_report

        print(build_study_report(folder))
        return 0
    if not (folder / "records.csv").exists() and folder.is_dir() and any(folder.glob("*/records.csv")):
        args.runs, args.out = [str(folder)], str(folder / "compare")
        return _cmd_compare(args)
    path = build_report(folder)
    print(path)
    return 0


def _cmd_check(args) -> int:
    from .checks import CHECKS, Lab, check_method, results_table, verdict_matrix
    from .report.check import write_check_report
    from .methods import get_method, list_methods

    names = list(args.methods) + ([m for m in list_methods() if m not in ("rationale", "oracle")] if args.all else [])
    if not names:
        raise AttrlabError("name a method to check (e.g. attrlab check integrated_gradients) or say --all")
    groups = _split(args.groups) or []
    bad = [g for g in groups if g not in CHECKS]
    if bad:
        raise AttrlabError(f"unknown check group(s) {', '.join(bad)}; choose from {', '.join(CHECKS)}")
    methods = [get_method(n, defaults={"seed": 0}) for n in names]  # bad names fail before any work
    lab = Lab(None, args.quick, not args.no_progress)
    results = {}
    for method in methods:
        results[method.label] = check_method(method, groups=groups, lab=lab)
        if len(methods) == 1 or not args.all:
            print(f"\n{method.label}")
            print(results_table(results[method.label]).to_string(index=False))
    if len(methods) > 1:
        print("\n" + verdict_matrix(results).to_string())
    path = write_check_report(results, args.out)
    failed = sum(r.status == "fail" for rs in results.values() for r in rs)
    print(f"\n{failed} check(s) failed; report: {path}")
    return 0 if failed == 0 else 1


def _cmd_evaluate(args) -> int:
    import pandas as pd

    from .evaluate import evaluate

    methods = _split(args.methods) or _split(IMAGE_METHODS if args.images else TEXT_METHODS)
    table = evaluate(args.model, args.images, methods, corpus=args.corpus, weights=args.weights, vocab=args.vocab,
                     side=args.side, max_len=args.max_len, limit=args.limit, auto_metrics=args.auto_metrics,
                     batch_size=args.batch_size, device=args.device, out=args.out, progress=not args.no_progress,
                     trust=args.trust, n_classes=args.classes, corpus_format=args.corpus_format)
    left_out = table.attrs.get("left_out", {})
    if left_out and args.methods:  # named by the user: say why it did not run
        for name, why in left_out.items():
            print(f"attrlab: {name} left out: it {why}", file=sys.stderr)
    shown = table.T
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(shown.to_string(float_format=lambda v: f"{v:.3f}", na_rep="–"))
    from .metrics import direction

    print("\ntrust (τ of the metric's ranking of methods against the ground truth's, real methods, 95% interval):")
    for metric, line in table.attrs["trust"].items():
        print(f"  {metric} {'↓' if direction(metric) == 'lower' else '↑'}: {line}")
    failed = table.attrs["failed"]
    for _, row in failed.head(10).iterrows():
        print(f"failed: {row['method']} {row['metric']}: {row['error']}")
    print(f"\n{Path(args.out) / 'evaluate.csv'}\nreport: {table.attrs['report']}")
    return 0


def _cmd_meta(args) -> int:
    from .meta import load
    from .report.meta import terminal_table, write

    records, heads = load(args.runs)
    first = Path(args.runs[0])
    out = Path(args.out) if args.out else first.parent / "meta"
    summary, page, dropped = write(records, heads, out, args.include_unverified)
    print(terminal_table(summary))
    _print_left_out(dropped)
    print(f"\n{out / 'metaeval.csv'}\n{page}")
    return 0


def _print_left_out(dropped) -> None:
    """Name what a table leaves out and why (a run that did not verify never vanishes silently)."""
    if dropped is None or dropped.empty:
        return
    print(f"\nleft out ({len(dropped)} run/method pairs):")
    for (env, setting, why), g in dropped.groupby(["environment", "setting", "why"], sort=False):
        methods = ", ".join(g["method"].head(6)) + (f" and {len(g) - 6} more" if len(g) > 6 else "")
        print(f"  {env} {setting}: {methods} — {why}")


def _cmd_compare(args) -> int:
    import pandas as pd

    from .report.compare import compare, run_folders

    first = run_folders(args.runs)[0]
    out = Path(args.out) if args.out else first.parent / "compare"
    table = compare(args.runs, out, getattr(args, "metric", None), getattr(args, "include_unverified", False))
    shown = table[[c for c in table.columns if not c.startswith("rank in ")]]
    shown = shown.rename(columns=lambda c: c.split(": ")[0])  # the environment; the metric's name is in the CSV
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(shown.to_string(float_format=lambda v: f"{v:.3f}", na_rep="–"))
    dropped = pd.read_csv(out / "left_out.csv")
    if len(dropped):
        print(f"\nleft out ({len(dropped)} run/method pairs):")
        for (run_dir, why), g in dropped.groupby(["run", "why"], sort=False):
            methods = ", ".join(g["method"].head(6)) + (f" and {len(g) - 6} more" if len(g) > 6 else "")
            print(f"  {run_dir}: {methods} — {why}")
    print(f"\n{out / 'compare.csv'}\n{out / 'compare.png'}")
    return 0


def _cmd_list(args) -> int:
    if args.what == "metrics":
        from .metrics import describe_metric, list_metrics

        for name in list_metrics():
            info = describe_metric(name)
            if not args.verbose:
                print(name)
                continue
            params = ", ".join(f"{k}={v}" for k, v in info.defaults.items())
            when = "" if info.fn is None else ("; on by default" if info.default else "; opt-in")
            print(f"{name:26s} [{info.family}; needs {info.needs}; {info.inputs} inputs; {info.direction} is better; "
                  f"forward passes per sample: {info.cost}{when}] {info.description}" + (f" [{params}]" if params else ""))
        return 0
    if args.what == "methods":
        from .methods import describe, list_methods

        for name in list_methods():
            if args.verbose:
                info = describe(name)
                params = ", ".join(f"{k}={v}" for k, v in info.defaults.items())
                reading = f"; SMERF reads it: {info.reading}" if info.modality == "image" else ""
                print(f"{name:22s} ({info.modality}) {info.description}" + (f" [{params}]" if params else "")
                      + reading)
            else:
                print(name)
    else:
        from .environments import get_environment, list_environments

        for name in list_environments():
            if not args.verbose:
                print(name)
                continue
            spec = get_environment(name).spec
            print(f"{name} ({spec.modality}{', in the default run' if spec.in_default_run else ''}): {spec.description}")
            print(f"  settings: {', '.join(spec.settings)}{' (and names planned from options)' if spec.open_settings else ''}")
            print(f"  presets: {', '.join(spec.presets)}")
            for opt in spec.options:
                values = " / ".join(f"{p}={spec.presets[p].get(opt.name, opt.default)!r}" for p in spec.presets)
                choices = f" one of {', '.join(map(str, opt.choices))};" if opt.choices else ""
                print(f"  --set {opt.name}=<{opt.type.__name__}>  {opt.help};{choices} {values}")
    return 0


def main(argv: list[str] | None = None) -> int:
    import warnings

    warnings.formatwarning = warning_line
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # -h, or a bad argument already said in one line
        return int(exc.code or 0)
    if args.command != "list":  # the commands that compute (see attrlab/allocator.py)
        from .allocator import tune_allocator

        tune_allocator()
    try:
        return {"run": _cmd_run, "report": _cmd_report, "list": _cmd_list, "compare": _cmd_compare,
                "check": _cmd_check, "study": _cmd_study, "meta": _cmd_meta,
                "evaluate": _cmd_evaluate}[args.command](args)
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
