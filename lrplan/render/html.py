"""Draw a :class:`~lrplan.render.files.Page` as one self-contained, offline HTML report (plotly).

plotly.js is inlined (``include_plotlyjs=True``): a page that loads it from a CDN renders blank on an
air-gapped cluster. Each phase of each line is its own trace, so hover shows step, LR and phase
without a per-point text array (which would cost ~10 bytes a point); float64 arrays travel as base64
(plotly >= 6), and the points are capped (files.HTML_POINTS), so the page stays under 5 MB for any
number of steps. The key-point and phase tables are plain HTML under the chart.
"""

from __future__ import annotations

import html

from ..version import __version__
from .page import PALETTE, Line, Page, Panel, Table

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #222; }
main { max-width: 1180px; margin: 0 auto; padding: 12px 20px 32px; }
h1 { font-size: 1.25rem; margin: 8px 0 2px; word-break: break-all; }
div.sub { margin: 0 0 6px; color: #444; font-size: 0.85rem; line-height: 1.35; word-break: break-all; }
section.tables { display: flex; flex-wrap: wrap; align-items: flex-start; gap: 18px; margin-top: 12px; }
table { border-collapse: collapse; font-size: 0.82rem; }
caption { text-align: left; font-weight: 600; padding: 4px 0; word-break: break-all; }
th, td { border-bottom: 1px solid #ddd; padding: 3px 8px; text-align: left; white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
footer { margin-top: 18px; color: #888; font-size: 0.8rem; }
"""
_PLOT_CONFIG = {"responsive": True, "displaylogo": False}
# Pixels for a lone panel; or the first and each further one (all fit on a laptop screen together).
_ALONE_HEIGHT, _MAIN_HEIGHT, _EXTRA_HEIGHT = 470, 360, 200


SIZE_LIMIT = 4_950_000  # bytes: design.md's "under 5 MB", with a margin
# Past these counts a per-phase trace / named marker / table row costs more bytes than it helps.
MAX_PHASE_TRACES, MAX_VLINES, MAX_NAMED_VLINES, MAX_TABLE_ROWS = 24, 120, 30, 200


def page_html(page: Page) -> str:
    """The report; when many phases or lines push it past SIZE_LIMIT, lines are thinned (never their
    phase boundaries) until it fits."""
    text = _page_text(page)
    while len(text.encode("utf-8")) > SIZE_LIMIT:
        before = sum(len(ln.x) for p in page.panels for ln in p.lines)
        for p in page.panels:
            p.lines = [_thin(ln) for ln in p.lines]
        if sum(len(ln.x) for p in page.panels for ln in p.lines) == before:
            break  # nothing left to thin: only phase boundaries remain
        text = _page_text(page)
    return text


def _thin(line: Line) -> Line:
    """Every other point, keeping the first and last point of every phase."""
    import numpy as np

    keep = np.arange(len(line.x)) % 2 == 0
    for _, i0, i1 in line.phases:
        keep[i0] = keep[i1] = True
    new_index = np.cumsum(keep) - 1
    phases = [(name, int(new_index[i0]), int(new_index[i1])) for name, i0, i1 in line.phases]
    return Line(line.label, line.x[keep], line.y[keep], phases, line.color, line.points)


def _page_text(page: Page) -> str:
    fig = _figure(page)
    plot = fig.to_html(full_html=False, include_plotlyjs=True, config=_PLOT_CONFIG, default_width="100%",
                       default_height=f"{fig.layout.height}px")
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{html.escape(page.title)} · lrplan</title>", f"<style>{_CSS}</style></head><body><main>",
             f"<h1>{html.escape(page.title)}</h1>"]
    if page.subtitle:
        parts.append('<div class="sub">' + "<br>".join(html.escape(line) for line in page.subtitle) + "</div>")
    parts.append(plot)
    parts.append('<section class="tables">' + "".join(_table(t) for t in page.tables) + "</section>")
    parts.append(f"<footer>written by lrplan {html.escape(__version__)}; works offline (plotly.js is "
                 "inside this file)</footer></main></body></html>")
    return "\n".join(parts) + "\n"


def _figure(page: Page):
    from plotly.subplots import make_subplots

    n = len(page.panels)
    heights = [_ALONE_HEIGHT] if n == 1 else [_MAIN_HEIGHT] + [_EXTRA_HEIGHT] * (n - 1)
    fig = make_subplots(rows=n, cols=1, shared_xaxes=True, vertical_spacing=0.08 if n > 1 else 0.0,
                        row_heights=heights)
    shown: set[str] = set()
    for row, panel in enumerate(page.panels, start=1):
        _add_panel(fig, panel, row, shown, page.x_label)
    fig.update_layout(height=sum(heights) + 90, margin={"l": 70, "r": 20, "t": 30, "b": 50},
                      template="plotly_white", hovermode="closest",
                      legend={"orientation": "h", "yanchor": "bottom", "y": 1.01, "x": 0})
    fig.update_xaxes(title_text=page.x_label, row=n, col=1)
    return fig


def _add_panel(fig, panel: Panel, row: int, shown: set[str], x_label: str) -> None:
    import plotly.graph_objects as go

    y_name = html.escape(panel.value_name)
    for line in panel.lines:
        color = PALETTE[line.color % len(PALETTE)]
        name = html.escape(line.label)
        if line.points:
            hover = f"<b>{name}</b><br>{x_label} %{{x:,.0f}}<br>{y_name} %{{y:.7g}}<extra></extra>"
            fig.add_trace(go.Scatter(x=line.x, y=line.y, mode="markers", name=name, legendgroup=name,
                                     showlegend=name not in shown, hovertemplate=hover,
                                     marker={"color": color, "size": 4}), row=row, col=1)
            shown.add(name)
            continue
        if len(line.phases) > MAX_PHASE_TRACES:
            _add_line_with_text(fig, line, name, color, row, shown, x_label)
            continue
        for phase, i0, i1 in line.phases:
            # Carry the next phase's first point so the polyline stays connected across a boundary.
            j1 = min(i1 + 2, len(line.x))
            hover = (f"<b>{name}</b><br>{x_label} %{{x:,.0f}}<br>{y_name} %{{y:.6g}}<br>"
                     f"phase {html.escape(phase)}<extra></extra>")
            fig.add_trace(go.Scatter(x=line.x[i0:j1], y=line.y[i0:j1], mode="lines", name=name,
                                     legendgroup=name, showlegend=name not in shown, hovertemplate=hover,
                                     line={"color": color, "width": 2}), row=row, col=1)
            shown.add(name)
    fig.update_yaxes(title_text=panel.ylabel, type="log" if panel.log_y else "linear", exponentformat="e",
                     row=row, col=1)
    if panel.zero_line:
        fig.add_hline(y=0.0, line={"color": "#888", "width": 1}, row=row, col=1)
    several = len(panel.lines) > 1
    vlines = panel.vlines
    if len(vlines) > MAX_VLINES:  # hundreds of phases: keep the marks; the phase table lists the rest
        vlines = [v for v in vlines if v[2] == "mark"]
    named = len(vlines) <= MAX_NAMED_VLINES
    for x, text, kind, color in vlines:
        where = "top right"
        if kind == "mark":
            style = {"color": "#d62728", "dash": "dash", "width": 1.5}
            where = "bottom right"
        else:
            shade = PALETTE[color % len(PALETTE)] if several and color is not None else "#999"
            style = {"color": shade, "dash": "dot", "width": 1}
        label = {"annotation_text": html.escape(text), "annotation_position": where,
                 "annotation_font_size": 10} if row == 1 and text and named else {}
        fig.add_vline(x=x, line=style, row=row, col=1, **label)


def _add_line_with_text(fig, line: Line, name: str, color: str, row: int, shown: set[str],
                        x_label: str) -> None:
    """One trace for a line with many phases: the phase of each point travels as its text."""
    import numpy as np
    import plotly.graph_objects as go

    text = np.empty(len(line.x), dtype=object)
    for phase, i0, i1 in line.phases:
        text[i0 : i1 + 1] = phase
    hover = f"<b>{name}</b><br>{x_label} %{{x:,.0f}}<br>LR %{{y:.6g}}<br>phase %{{text}}<extra></extra>"
    fig.add_trace(go.Scatter(x=line.x, y=line.y, text=text.tolist(), mode="lines", name=name, legendgroup=name,
                             showlegend=name not in shown, hovertemplate=hover,
                             line={"color": color, "width": 2}), row=row, col=1)
    shown.add(name)


def _table(t: Table) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in t.header)
    rows = []
    shown_rows = t.rows if len(t.rows) <= MAX_TABLE_ROWS else t.rows[: MAX_TABLE_ROWS - 1]
    # A column is right-aligned when every filled cell of it is a number (so "25%" notes stay left).
    numeric = [all(_numeric(r[i]) for r in t.rows if i < len(r) and r[i]) for i in range(len(t.header))]
    for r in shown_rows:
        cells = "".join(f'<td class="num">{html.escape(c)}</td>' if i < len(numeric) and numeric[i]
                        else f"<td>{html.escape(c)}</td>" for i, c in enumerate(r))
        rows.append(f"<tr>{cells}</tr>")
    if len(shown_rows) < len(t.rows):
        more = len(t.rows) - len(shown_rows)
        rows.append(f'<tr><td colspan="{len(t.header)}">… {more} more rows (see lrplan table)</td></tr>')
    return f"<table><caption>{html.escape(t.caption)}</caption><tr>{head}</tr>{''.join(rows)}</table>"


def _numeric(text: str) -> bool:
    try:
        float(text.rstrip("%×"))
        return True
    except ValueError:
        return False
