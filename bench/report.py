"""Ratios (min/median/max over rounds), the printed table, the JSON file and the PNG chart."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence


def summary(values: Sequence[float]) -> Dict[str, float]:
    """min/median/max of ``values``."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def ratio(a: Sequence[float], b: Sequence[float]) -> Dict[str, float]:
    """Per-round a/b, summarised (both lists come from the same rounds)."""
    return summary([x / y for x, y in zip(a, b)])


class Table:
    """Rows of (metric, what, min, median, max, target) for printing and the chart."""

    def __init__(self) -> None:
        """Empty."""
        self.rows: List[Dict[str, Any]] = []

    def add(
        self, metric: str, what: str, stats: Dict[str, float], target: Optional[float] = None,
        unit: str = "x",
    ) -> None:
        """One row; ``target`` is the acceptance threshold for the median, if any."""
        self.rows.append({"metric": metric, "what": what, **stats, "target": target,
                          "unit": unit})

    def render(self) -> str:
        """A fixed-width text table; ``ok``/``LOW`` against the target."""
        lines = [f"{'metric':<34} {'what':<40} {'min':>9} {'median':>9} {'max':>9}  target"]
        for row in self.rows:
            fmt = "{:>9.3f}" if row["unit"] == "x" else "{:>9.1f}"
            target = row["target"]
            verdict = ""
            if target is not None:
                verdict = f">= {target:g} " + ("ok" if row["median"] >= target else "LOW")
            lines.append(
                f"{row['metric']:<34} {row['what']:<40} "
                + " ".join(fmt.format(row[k]) for k in ("min", "median", "max"))
                + f"  {verdict}"
            )
        return "\n".join(lines)


def write_json(path: Path, data: Dict[str, Any]) -> None:
    """The raw samples and the table, for the closing note and later comparison."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True))


def write_chart(path: Path, table: Table) -> Optional[str]:
    """A horizontal bar chart of the ratio rows (median, min-max whiskers); None if skipped."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (pip install -r bench/requirements.txt): no chart"
    rows = [r for r in table.rows if r["unit"] == "x"]
    if not rows:
        return "no ratio rows: no chart"
    labels = [f"{r['metric']}: {r['what']}" for r in rows]
    med = [r["median"] for r in rows]
    lo = [r["median"] - r["min"] for r in rows]
    hi = [r["max"] - r["median"] for r in rows]
    fig, ax = plt.subplots(figsize=(11, 0.38 * len(rows) + 1.5))
    ax.barh(range(len(rows)), med, xerr=[lo, hi], color="#4c72b0", alpha=0.85)
    for i, r in enumerate(rows):
        if r["target"] is not None:
            ax.plot([r["target"]] * 2, [i - 0.4, i + 0.4], color="#c44e52", linewidth=2)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("ratio (median, min-max over rounds; red: target)")
    ax.set_title("tlsplug benchmark ratios")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None
