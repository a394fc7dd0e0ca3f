"""The self-contained HTML report (figures embedded as base64 PNG), rebuilt from a run folder's
records, verification, config and saved sample maps: nothing is recomputed.

The page is a header followed by every registered section (:mod:`attrlab.report.sections`) whose
record columns are present; the generic ones are defined here.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from .. import plugins
from ..core import VerificationReport
from ..metrics.registry import family
from . import figures
from .style import page_start
from .sections import SectionContext, images, register_section, sections_for, table
from .study import paper_section
from .tables import failures, load_records, summary, timings



def build_report(out: str | Path) -> Path:
    """Write ``summary.csv``, ``figures/*.png`` and ``report.html`` into the run folder ``out``.

    Example:
        >>> import tempfile
        >>> from attrlab.runner import RunConfig, run
        >>> d = run(RunConfig(methods=["gradient", "random"], out_dir=tempfile.mkdtemp(),
        ...                   options={"n_images": 2, "size": 32}, progress=False, report=False))
        >>> build_report(d).name
        'report.html'
    """
    plugins.load("report_sections")  # the environments' sections for their facts, and plug-ins' (entry points)

    out = Path(out)
    if not (out / "records.csv").exists():
        from ..errors import AttrlabError

        raise AttrlabError(f"{out} holds no records.csv; run `attrlab run ... --out {out}` first")
    records = load_records(out)
    config = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
    verification = VerificationReport.from_json(
        json.loads((out / "verification.json").read_text()) if (out / "verification.json").exists() else {})
    table_ = summary(records)
    table_.to_csv(out / "summary.csv")
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    settings = list(dict.fromkeys(records["setting"])) if len(records) else []
    ctx = SectionContext(out, records, table_, settings, config, verification, fig_dir)
    env_name = config.get("environment", records["environment"].iloc[0] if len(records) else "?")
    chosen = sections_for(records)

    parts = [page_start(f"attrlab report: {env_name}", f"attrlab report — {html.escape(env_name)}",
                        "".join(s.css for s in chosen))]
    verdict = ("<span class='ok'>verified</span>" if verification.passed
               else "<span class='bad'>NOT verified: scores below are not ground-truth evidence</span>")
    n_methods = records["method"].nunique() if len(records) else 0
    parts.append(f"<p>Model: {verdict}. {n_methods} methods, settings: {', '.join(map(html.escape, settings))}. "
                 f"Device: {html.escape(str(config.get('device', '?')))}.</p>")
    parts.append(f"<details><summary>Configuration</summary><pre>{html.escape(json.dumps(config, indent=2))}</pre></details>")
    for section in chosen:
        parts += section.render(ctx)
    parts.append("<p>Rebuild this page from the run folder alone with <code>attrlab report "
                 f"{html.escape(str(out))}</code>.</p></body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


@register_section("verification", order=10)
def _verification(ctx: SectionContext) -> list[str]:
    rows = {k: {key: _readable(value) for key, value in v.as_dict().items()} for k, v in ctx.verification.settings.items()}
    return ["<h2>Verification</h2>", table(pd.DataFrame(rows).T if rows else pd.DataFrame(), 4)]


def _readable(value, digits: int = 3):
    """A verification value as a reader wants it: numbers rounded (float32 noise such as
    0.9800000190734863 becomes 0.98), a per-bucket dict as ``key value`` pairs, long lists cut.

    Example:
        >>> _readable({"1": 1.0, "6": 0.9800000190734863}), _readable(0.123456), _readable(list(range(12)))
        ('1: 1, 6: 0.98', 0.123, '0, 1, 2, 3, 4, 5, 6, 7, … (12)')
    """
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_readable(v, digits):g}" if isinstance(v, (int, float)) and not isinstance(v, bool)
                         else f"{k}: {_readable(v, digits)}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        shown = [str(_readable(v, digits)) for v in value[:8]]
        return ", ".join(shown) + (f", … ({len(value)})" if len(value) > 8 else "")
    return value


@register_section("scores", needs={"setting", "method", "metric", "value"}, order=20)
def _scores(ctx: SectionContext) -> list[str]:
    parts = ["<h2>Scores (mean over samples)</h2><p>Precision/recall/F1: a pixel counts as attributed when "
             f"|a| &gt; {ctx.config.get('metrics', {}).get('threshold', '?')} · max|a| of its map (positive: a &gt; τ, "
             "negative: a &lt; −τ). <code>mass_focus</code> is the share of |attribution| on the ground-truth pixels "
             "(Attr%/AFL); <code>iou_focus</code> the top-K IoU with K = |ground truth|.</p>"]
    tim = timings(ctx.out)
    from .spread import spread

    cells = spread(ctx.records[ctx.records["metric"] == "mass_focus"]) if "metric" in ctx.records else None
    for setting in ctx.settings:
        parts.append(f"<h3>{html.escape(setting)}</h3>")
        in_table = not ctx.table.empty and setting in ctx.table.index.get_level_values(0)
        t = ctx.table.loc[setting].copy() if in_table else pd.DataFrame()
        if not t.empty:  # the automatic metrics have their own section
            t = t[[c for c in t.columns if family(c) == "ground truth" or c == "completeness_gap"]]
        if not tim.empty and setting in tim.index.get_level_values(0):
            t = t.join(tim.loc[setting], how="left") if not t.empty else tim.loc[setting]
        if "overall_f1" in t:
            t = t.sort_values("overall_f1", ascending=False)
        parts.append(table(t))
        if in_table:
            parts += images((figures.prf_heatmap(ctx.table, setting, ctx.fig_dir / f"prf_{setting}.png"),
                             figures.metric_bars(ctx.table, "mass_focus", setting, ctx.fig_dir / f"mass_{setting}.png",
                                                 "Share of attribution on the ground truth (Attr%)", cells)))
        parts += images((figures.map_gallery(ctx.maps_dir, setting, ctx.fig_dir / f"maps_{setting}.png"),))
    return parts


@register_section("spread", needs={"setting", "method", "metric", "value"}, order=25)
def _spread(ctx: SectionContext) -> list[str]:
    from .spread import formatted, spread

    cells = spread(ctx.records)
    cells.to_csv(ctx.out / "spread.csv", index=False)
    head = ctx.config.get("headline", {}).get("metric", "mass_focus")
    keep = [m for m in dict.fromkeys([head, "mass_focus", "positive_f1", "overall_f1", "iou_focus"])
            if m in set(cells["metric"])]
    if cells.empty or not keep:
        return []
    view = cells[cells["metric"].isin(keep)]
    view = view.assign(shown=formatted(view)).pivot_table(index=["setting", "method"], columns="metric",
                                                          values="shown", aggfunc="first")[keep]
    n_models = int(cells["n_models"].max())
    over = "models (seeds)" if n_models > 1 else "the samples of the one model (a study over seeds, "
    over += "" if n_models > 1 else "<code>--seeds 0-4</code>, gives the spread over models)"
    return [f"<h2>Spread</h2><p><code>mean ± std [95% bootstrap interval] n=models</code>, over {over}. "
            "All cells: <code>spread.csv</code>.</p>", table(view)]


@register_section("variants", needs={"method"}, order=30)
def _variants(ctx: SectionContext) -> list[str]:
    if ctx.table.empty:
        return []
    bases = sorted({m.split(":")[0] for m in ctx.records["method"].unique()})
    figs = [f for b in bases if (f := figures.variant_bars(ctx.table, b, ctx.fig_dir / f"variants_{b}.png"))]
    if not figs:
        return []
    return ["<h2>Method variants</h2><p>The same method with another baseline (<code>baseline=true</code> is the "
            "environment's true baseline: IG*, Occlusion*) or another segmentation (LIME).</p>"] + images(figs)


@register_section("completeness", needs={"metric", "value"}, metrics={"completeness_gap"}, order=85)
def _completeness(ctx: SectionContext) -> list[str]:
    gap = ctx.records[(ctx.records["metric"] == "completeness_gap") & (ctx.records["status"] == "ok")]
    t = gap.groupby(["setting", "method"])["value"].agg(
        samples="size", mean_gap="mean", max_gap="max", over_1_percent=lambda v: int((v > 0.01).sum()))
    return ["<h2>Completeness</h2><p>Methods that claim Σ attributions = f(x) − f(baseline) (IG, DeepLIFT): "
            "the relative gap |Σa − (f(x) − f(x₀))| / |f(x) − f(x₀)| per sample (Captum's convergence delta). "
            "A job with a gap above 1% is flagged in <code>jobs.csv</code>: its map is not what the method "
            "promises (too few integration steps, a rule that breaks summation-to-delta).</p>", table(t, 4)]


@register_section("paper", needs={"environment", "setting", "method", "metric", "value"}, order=15)
def _paper(ctx: SectionContext) -> list[str]:
    from .paper import compare_to_papers

    papers = compare_to_papers(ctx.records)
    if papers.empty:
        return []
    papers.to_csv(ctx.out / "paper_vs_attrlab.csv", index=False)
    return paper_section(papers)


@register_section("failures", needs={"status"}, order=90)
def _failures(ctx: SectionContext) -> list[str]:
    return ["<h2>Failures</h2>", table(failures(ctx.records))]
