"""Draw a Grafana dashboard's panels from Prometheus range queries, so the docs can show what
the dashboard shows without a Grafana server."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402 (after choosing the backend)

RangeQuery = Callable[[str, float, float], list[dict]]


def _legend(template: str, labels: dict) -> str:
    return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: labels.get(m.group(1), ""), template)


def render(dashboard: dict, queries: list[tuple[str, list[str]]], query_range: RangeQuery,
           start: float, end: float, path: Path) -> None:
    panels = dashboard["panels"]
    rows = (len(panels) + 1) // 2
    figure, axes = plt.subplots(rows, 2, figsize=(16, 3.2 * rows), squeeze=False)
    for index, (panel, (title, exprs)) in enumerate(zip(panels, queries, strict=True)):
        ax = axes[index // 2][index % 2]
        for target, expr in zip(panel["targets"], exprs, strict=True):
            for series in query_range(expr, start, end):
                times = [float(t) - start for t, _ in series["values"]]
                values = [float(v) for _, v in series["values"]]
                ax.plot(times, values, label=_legend(target["legendFormat"], series["metric"]))
        ax.set_title(f"{title} ({panel['fieldConfig']['defaults']['unit']})", fontsize=10)
        ax.set_xlabel("seconds", fontsize=8)
        ax.tick_params(labelsize=7)
        handles, labels = ax.get_legend_handles_labels()
        if handles:
            ax.legend(handles[:6], labels[:6], fontsize=6, loc="upper left")
    for index in range(len(panels), rows * 2):
        axes[index // 2][index % 2].axis("off")
    figure.suptitle(f"{dashboard['title']}: a 3-node cluster, one node killed under writes")
    figure.tight_layout(rect=(0, 0, 1, 0.985))
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=80)
    plt.close(figure)
