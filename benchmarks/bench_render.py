"""Benchmark: plotting a 10,000,000-step schedule to PNG and to the terminal (design.md: < 1 s after
imports) and the size of its HTML report (< 5 MB, plotly.js included).

matplotlib and plotly are imported (and matplotlib's font cache warmed by one small figure) before
the clock starts: "after imports" is what the target measures. The peer column is the same plot of a
100k-step schedule, to show that the cost does not grow with the number of steps.
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

N = 10_000_000
SMALL = 100_000
SPEC = "warmup=2000,cosine,min=0.1"


def _series(n: int):
    from lrplan.frameworks.base import ReadOptions
    from lrplan.render.terminal import Series
    from lrplan.sources import load

    return [Series(load(SPEC, opts=ReadOptions(steps=str(n), lr=3e-4)).schedule, SPEC)]


def _best(fn, repeats: int = 3) -> float:
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def run() -> list[dict]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot  # noqa: F401  (the import is not part of the target)
    import plotly.graph_objects  # noqa: F401

    from lrplan.render.files import save_plot
    from lrplan.render.terminal import as_text, render

    big, small = _series(N), _series(SMALL)
    with tempfile.TemporaryDirectory(prefix="lrplan-bench-render-") as tmp:
        out = Path(tmp)
        save_plot(small, out / "warm.png", k_max=SMALL)  # font cache, first-figure costs
        png = _best(lambda: save_plot(big, out / "big.png", k_max=N))
        png_small = _best(lambda: save_plot(small, out / "small.png", k_max=SMALL))
        term = _best(lambda: as_text(render(big, N, width=100)))
        term_small = _best(lambda: as_text(render(small, SMALL, width=100)))
        save_plot(big, out / "big.html", k_max=N)
        save_plot(small, out / "small.html", k_max=SMALL)
        html_mb = (out / "big.html").stat().st_size / 1e6
        html_small = (out / "small.html").stat().st_size / 1e6
    peer = f"same, {SMALL:,} steps"
    return [
        {"target": f"plot {N:,} steps to PNG, s", "lrplan": round(png, 3), "peer": round(png_small, 3),
         "peer_name": peer, "ratio": round(png / png_small, 2), "goal": "< 1 s after imports", "pass": png < 1},
        {"target": f"plot {N:,} steps to the terminal, s", "lrplan": round(term, 3), "peer": round(term_small, 3),
         "peer_name": peer, "ratio": round(term / term_small, 2), "goal": "< 1 s after imports", "pass": term < 1},
        {"target": f"HTML report of {N:,} steps, MB", "lrplan": round(html_mb, 3), "peer": round(html_small, 3),
         "peer_name": peer, "ratio": round(html_mb / html_small, 3), "goal": "< 5 MB (plotly.js inside)",
         "pass": html_mb < 5},
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
