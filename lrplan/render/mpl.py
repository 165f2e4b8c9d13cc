"""Draw a :class:`~lrplan.render.files.Page` with matplotlib (Agg) to PNG, SVG or PDF bytes.

Only the panels are drawn (tables belong to the HTML report and to ``lrplan table``). Lines are
already decimated, so a 10M-step schedule costs a few thousand points here.
"""

from __future__ import annotations

import io

from .page import PALETTE, Page, Panel

# Fixed metadata keeps SVG/PDF output byte-stable from run to run (no creation date).
_METADATA = {"svg": {"Date": None}, "pdf": {"CreationDate": None}, "png": {}}


def page_image(page: Page, fmt: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg", force=True)
    fig = page_figure(page)
    buf = io.BytesIO()
    # A fixed salt makes SVG element ids (random by default) identical from run to run.
    with matplotlib.rc_context({"svg.hashsalt": "lrplan"}):
        fig.savefig(buf, format=fmt, metadata=_METADATA.get(fmt, {}))
    return buf.getvalue()


def page_figure(page: Page):
    """The page's panels as a matplotlib Figure (no backend chosen: a notebook shows it inline)."""
    from matplotlib.figure import Figure

    n = len(page.panels)
    fig = Figure(figsize=(10, 4.8 + 2.6 * (n - 1)), dpi=120, layout="constrained")
    axes = fig.subplots(n, 1, sharex=True, squeeze=False)[:, 0]
    for ax, panel in zip(axes, page.panels):
        _draw_panel(ax, panel)
    axes[-1].set_xlabel(page.x_label)
    axes[-1].xaxis.set_major_formatter(_step_formatter())
    fig.suptitle(page.title if len(page.title) <= 90 else page.title[:87] + "...", fontsize=11)
    return fig


def _draw_panel(ax, panel: Panel) -> None:
    for line in panel.lines:
        if line.points:
            ax.plot(line.x, line.y, ".", color=PALETTE[line.color % len(PALETTE)], markersize=3, label=line.label)
            continue
        ax.plot(line.x, line.y, color=PALETTE[line.color % len(PALETTE)], linewidth=1.4, label=line.label)
    if panel.log_y:
        ax.set_yscale("log")
    if panel.zero_line:
        ax.axhline(0.0, color="0.5", linewidth=0.8)
    several = len(panel.lines) > 1
    for x, text, kind, color in panel.vlines:
        if kind == "mark":
            ax.axvline(x, color="#d62728", linestyle="--", linewidth=1.0)
            ax.annotate(text, (x, 1.0), xycoords=("data", "axes fraction"), rotation=90, va="top", ha="right",
                        fontsize=8, color="#d62728")
        else:
            shade = PALETTE[color % len(PALETTE)] if several and color is not None else "0.45"
            ax.axvline(x, color=shade, linestyle=":", linewidth=1.0, alpha=0.8)
            ax.annotate(text, (x, 0.02), xycoords=("data", "axes fraction"), rotation=90, va="bottom",
                        ha="left", fontsize=8, color=shade)
    if not panel.log_y:
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 4))
    ax.set_ylabel(panel.ylabel)
    ax.grid(True, alpha=0.3)
    if len(panel.lines) > 1:
        ax.legend(loc="best", fontsize=8)


def _step_formatter():
    from matplotlib.ticker import FuncFormatter

    from .terminal import fmt_step

    return FuncFormatter(lambda v, _pos: fmt_step(v) if v >= 0 else "-" + fmt_step(-v))
