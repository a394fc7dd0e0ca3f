"""The one style sheet and page head of every attrlab HTML page (run, study, meta, check and
evaluate reports)."""
import html

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222}
table{border-collapse:collapse;font-size:12px;margin:1em 0}th,td{border:1px solid #ccc;padding:3px 6px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}.bad{color:#b00020;font-weight:bold}
.ok{color:#1b7f3b;font-weight:bold}img{max-width:100%;border:1px solid #ddd;margin:6px 0}code{background:#f4f4f4;padding:1px 4px}"""


def page_start(title: str, heading: str | None = None, css: str = "") -> str:
    """A page's opening: doctype, head (charset, escaped ``title``, the style sheet and any
    section's ``css``), body and an ``<h1>`` (``heading``, already HTML, default the title).

    Example:
        >>> page_start("attrlab check").endswith("<body><h1>attrlab check</h1>")
        True
    """
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}{css}</style></head><body><h1>{html.escape(title) if heading is None else heading}</h1>")
