"""The self-contained HTML report (figures embedded as base64 PNG), rebuilt from a run folder's
records, verification, config and saved sample maps: nothing is recomputed."""
from __future__ import annotations

import base64
import html
import json
from pathlib import Path

import pandas as pd

from . import attr_percent, figures, text_views
from .tables import failures, load_records, summary, timings

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:bold}
.ok{color:#1b7f3b;font-weight:bold}img{max-width:100%;border:1px solid #ddd;margin:6px 0}code{background:#f4f4f4;padding:1px 4px}"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def _table(df: pd.DataFrame, digits: int = 3) -> str:
    if df is None or df.empty:
        return "<p>none</p>"
    body = df.to_html(float_format=lambda v: f"{v:.{digits}f}", na_rep="–", border=0, escape=True)
    return f"<div style='overflow-x:auto'>{body}</div>"


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
    out = Path(out)
    if not (out / "records.csv").exists():
        from ..errors import AttrlabError

        raise AttrlabError(f"{out} holds no records.csv; run `attrlab run ... --out {out}` first")
    records = load_records(out)
    config = json.loads((out / "config.json").read_text()) if (out / "config.json").exists() else {}
    verification = json.loads((out / "verification.json").read_text()) if (out / "verification.json").exists() else {}
    table = summary(records)
    table.to_csv(out / "summary.csv")
    fig_dir = out / "figures"
    fig_dir.mkdir(exist_ok=True)
    settings = list(dict.fromkeys(records["setting"])) if len(records) else []
    env_name = config.get("environment", records["environment"].iloc[0] if len(records) else "?")

    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>attrlab report: {html.escape(env_name)}</title>",
             f"<style>{CSS}{text_views.CSS}</style></head><body>", f"<h1>attrlab report — {html.escape(env_name)}</h1>"]
    passed = bool(verification.get("passed", False))
    verdict = "<span class='ok'>verified</span>" if passed else "<span class='bad'>NOT verified: scores below are not ground-truth evidence</span>"
    n_methods = records["method"].nunique() if len(records) else 0
    parts.append(f"<p>Model: {verdict}. {n_methods} methods, settings: {', '.join(map(html.escape, settings))}. "
                 f"Device: {html.escape(str(config.get('device', '?')))}.</p>")
    parts.append(f"<details><summary>Configuration</summary><pre>{html.escape(json.dumps(config, indent=2))}</pre></details>")
    parts.append("<h2>Verification</h2>")
    rows = {k: v for k, v in verification.items() if isinstance(v, dict)}
    parts.append(_table(pd.DataFrame(rows).T if rows else pd.DataFrame([verification]), 4))

    parts.append("<h2>Scores (mean over samples)</h2><p>Precision/recall/F1: a pixel counts as attributed when "
                 f"|a| &gt; {config.get('metrics', {}).get('threshold', '?')} · max|a| of its map (positive: a &gt; τ, "
                 "negative: a &lt; −τ). <code>mass_focus</code> is the share of |attribution| on the ground-truth pixels "
                 "(Attr%/AFL); <code>iou_focus</code> the top-K IoU with K = |ground truth|.</p>")
    tim = timings(out)
    for setting in settings:
        parts.append(f"<h3>{html.escape(setting)}</h3>")
        t = table.loc[setting].copy() if setting in table.index.get_level_values(0) else pd.DataFrame()
        if not tim.empty and setting in tim.index.get_level_values(0):
            t = t.join(tim.loc[setting], how="left")
        if "overall_f1" in t:
            t = t.sort_values("overall_f1", ascending=False)
        parts.append(_table(t))
        for fig in (figures.prf_heatmap(table, setting, fig_dir / f"prf_{setting}.png"),
                    figures.metric_bars(table, "mass_focus", setting, fig_dir / f"mass_{setting}.png",
                                        "Share of attribution on the ground truth (Attr%)"),
                    figures.map_gallery(out / "maps", setting, fig_dir / f"maps_{setting}.png")):
            if fig is not None:
                parts.append(_img(fig))

    bases = sorted({m.split(":")[0] for m in records["method"].unique()}) if len(records) else []
    variant_figs = [f for b in bases if (f := figures.variant_bars(table, b, fig_dir / f"variants_{b}.png"))]
    if variant_figs:
        parts.append("<h2>Method variants</h2><p>The same method with another baseline (<code>baseline=true</code> is the "
                     "environment's true baseline: IG*, Occlusion*) or another segmentation (LIME).</p>")
        parts += [_img(f) for f in variant_figs]

    bucket_figs = figures.bucket_views(records, fig_dir / "buckets")
    if bucket_figs:
        parts.append("<h2>Buckets</h2><p>Per-bucket attribution focus (Kim et al. 2021): PAFL = share of "
                     "|attribution| on the objects to focus on, SAFL = on the objects to avoid.</p>")
        for fig in (figures.afl_bars(records, fig_dir / "afl_bars.png"),
                    figures.pafl_by_objects(records, fig_dir / "pafl_by_objects.png")):
            if fig is not None:
                parts.append(_img(fig))
        parts += [_img(f) for f in bucket_figs]
        worst = [f for s in settings
                 if (f := figures.worst_bucket_gallery(records, out / "maps", s, fig_dir / f"worst_bucket_{s}.png"))]
        if worst:
            parts.append("<h3>Each method on its worst bucket</h3>")
            parts += [_img(f) for f in worst]
        parts.append(_table(figures.bucket_table(records)))

    attr_figs = attr_percent.views(records, fig_dir)
    if attr_figs:
        parts.append("<h2>Attr% of the joint effective region</h2><p>Zhou et al. 2022: a model more accurate than "
                     "p* = max(r, 1 − r) must use the manipulation, which lies inside the effective region (ER); a "
                     "method should give it Attr% ≈ 1 at r = 0.5 (at least the Shapley bound (2p − r − 0.5)/(2p − 1) "
                     "in general, see Verification). Means over test images with and without the manipulation.</p>")
        parts.append(_table(attr_percent.attr_summary(records)))
        parts += [_img(f) for f in attr_figs]

    text_table = text_views.attention_table(records)
    if not text_table.empty:
        parts.append("<h2>Attr% on article words (Zhou et al. Table 1)</h2><p>Mean Attr% ± spread, beside each word "
                     "class's frequency (what a uniform map would score). A model above p* = 0.5 must read the "
                     "correlating articles; non-correlating ones carry nothing.</p>")
        parts.append(_table(text_table))
        curves = text_views.rationale_curves(records, fig_dir / "rationale_precision_recall.png")
        if curves is not None:
            parts.append("<p>Rationales: precision and recall of the selected words against the correlating "
                         "articles, by the actual selection rate (Zhou et al. Figs. 12–13).</p>" + _img(curves))
        docs = "\n".join(text_views.highlighted_documents(out / "maps", s) for s in settings)
        if docs:
            parts.append("<h3>Example documents</h3><p>One bar per word, height = |attribution| relative to the "
                         "document's largest: <span style='color:#e6862a'>correlating article</span>, "
                         "<span style='color:#3a78c2'>non-correlating article</span>, "
                         "<span style='color:#4aa564'>other word</span>.</p>" + docs)

    parts.append("<h2>Failures</h2>")
    parts.append(_table(failures(records)))
    parts.append("<p>Rebuild this page from the run folder alone with <code>attrlab report "
                 f"{html.escape(str(out))}</code>.</p></body></html>")
    path = out / "report.html"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path
