"""Results: one row per figure, written as Markdown (bench/results/results.md), JSON and a plot (results.png)."""

from __future__ import annotations

import json
import math
import operator
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge}


@dataclass
class Row:
    """One measured figure: ours against a reference, as the median over repeated rounds.

    ``ratio`` is the median of the per-round ratios ours/reference (each round measures both), so it is
    not always exactly ``ours / ref`` of the two medians.
    """

    section: str
    what: str
    ours: float
    unit: str
    ref_name: str = ""
    ref: float | None = None
    ratio: float | None = None
    target: str = ""  # e.g. "<= 1.15": a goal for ``ratio``
    lo: float | None = None  # smallest and largest per-round ratio (or value when there is no ratio)
    hi: float | None = None
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        if not self.target or self.ratio is None or math.isnan(self.ratio):
            return ""
        op, _, bound = self.target.partition(" ")
        return "met" if _OPS[op](self.ratio, float(bound)) else "MISSED"


def fmt(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if unit in ("B", "calls", "calls/s", "req") or abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.2f}"
    return f"{text} {unit}".strip()


def ratio_text(row: Row) -> str:
    if row.ratio is None or math.isnan(row.ratio):
        return "-"
    text = f"{row.ratio:.2f}x"
    if row.lo is not None and row.hi is not None and row.lo != row.hi:
        text += f" ({row.lo:.2f}-{row.hi:.2f})"
    return text


def _table(rows: list[Row], *, with_section: bool = False) -> list[str]:
    lines = [
        "| figure | ours | reference | ratio (min-max over rounds) | target | verdict | note |",
        "|---|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        ref = f"{row.ref_name}: {fmt(row.ref, row.unit)}" if row.ref_name else "-"
        verdict = {"met": "met", "MISSED": "**MISSED**"}.get(row.verdict, "")
        what = f"{row.section.split(',')[0].split(' (')[0]}: {row.what}" if with_section else row.what
        lines.append(
            f"| {what} | {fmt(row.ours, row.unit)} | {ref} | {ratio_text(row)} | {row.target or '-'} | "
            f"{verdict} | {row.note} |"
        )
    return lines


def summary_rows(rows: list[Row]) -> list[Row]:
    return [row for row in rows if row.target]


def markdown(rows: list[Row], meta: dict[str, Any], details: list[str]) -> str:
    m = meta["machine"]
    out = [
        "# bgtask-mcp benchmarks",
        "",
        f"Written by `python -m bench{' --quick' if meta['quick'] else ''}` on {meta['date']} "
        f"in {meta['seconds']:.0f} s. Everything runs against the embedded DMS simulator on loopback.",
        "",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['os']}",
        f"- Python {m['python']}; {m['packages']}",
        f"- product: {meta['product']}",
        f"- rounds: {meta['rounds']}; every figure is the median over the rounds, every ratio the median of the "
        "per-round ratios (ours and its reference are measured in the same round, interleaved)",
        "",
        "## Against the targets",
        "",
        *_table(summary_rows(rows), with_section=True),
        "",
    ]
    sections: dict[str, list[Row]] = {}
    for row in rows:
        sections.setdefault(row.section, []).append(row)
    for title, section_rows in sections.items():
        out += [f"## {title}", "", *_table(section_rows), ""]
    if details:
        out += ["## How it was measured, and what the figures say", "", *details, ""]
    return "\n".join(out)


README_START = "<!-- bench:targets -->"
README_END = "<!-- /bench:targets -->"


def readme_block(rows: list[Row], meta: dict[str, Any]) -> str:
    """What the README shows of a full run: the machine, the product, and the table against the targets."""
    m = meta["machine"]
    return "\n".join([
        README_START,
        f"Measured by `python3 tasks.py bench` on {meta['date']} ({meta['seconds']:.0f} s): {m['cpu']}, "
        f"{m['cores']} cores, {m['os']}; Python {m['python']}; {meta['product']}. Rounds: {meta['rounds']}.",
        "",
        *_table(summary_rows(rows), with_section=True),
        README_END,
    ])  # fmt: skip


def update_readme(path: Path, rows: list[Row], meta: dict[str, Any]) -> bool:
    """Replace the README's block between the markers with this run's; False when the markers are missing."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(README_START), text.find(README_END)
    if start < 0 or end < start:
        return False
    path.write_text(text[:start] + readme_block(rows, meta) + text[end + len(README_END) :], encoding="utf-8")
    return True


def console(rows: list[Row], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    width = max(len(r.what) for r in rows) if rows else 10
    lines = [
        f"machine: {m['cpu']} | {m['cores']} cores | Python {m['python']} | {m['os']}",
        f"{'figure':<{width}}  {'ours':>14}  {'reference':>34}  {'ratio':>20}  target   verdict",
    ]
    section = ""
    for row in rows:
        if row.section != section:
            section = row.section
            lines.append(f"-- {section}")
        ref = f"{_short(row.ref_name, 20)}: {fmt(row.ref, row.unit)}" if row.ref_name else "-"
        lines.append(
            f"{row.what:<{width}}  {fmt(row.ours, row.unit):>14}  {ref:>34}  {ratio_text(row):>20}  "
            f"{row.target or '-':<7}  {row.verdict}"
        )
    return "\n".join(lines)


def write_json(path: Path, rows: list[Row], meta: dict[str, Any], raw: dict[str, Any]) -> None:
    path.write_text(json.dumps({"meta": meta, "rows": [asdict(r) for r in rows], "raw": raw}, indent=1, default=str))


def plot(path: Path, rows: list[Row], meta: dict[str, Any]) -> None:
    """Every comparison as a ratio ours/reference (median, min-max over rounds), grouped by section, with its
    target: green when met, red when missed, grey when there is no target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [r for r in rows if r.ratio is not None and not math.isnan(r.ratio)]
    if not items:
        return
    labels, ys, headers, y = _layout(items)
    fig, ax = plt.subplots(figsize=(12, 0.32 * y + 1.4))
    for row, at in zip(items, ys, strict=True):
        _bar(ax, row, at)
    for at, title in headers:
        ax.text(0.0, at, title, va="center", fontsize=8, fontweight="bold")
    ax.axvline(1.0, color="black", linewidth=0.6, linestyle=":")
    ax.set_yticks(ys, [_short(label, 48) for label in labels], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlim(0, max((r.hi or r.ratio or 0.0) for r in items) + 2.4)  # room for the labels
    ax.set_xlabel("ours / reference (bar: median of per-round ratios; whisker: min-max; tick: target)", fontsize=8)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    m = meta["machine"]
    ax.set_title(
        f"bgtask-mcp vs its references{' (--quick)' if meta['quick'] else ''} - {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python'].split(' ')[0]}, {meta['date']}",
        fontsize=9,
        loc="left",
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


_COLORS = {"met": "#2e7d32", "MISSED": "#c62828", "": "#78909c"}


def _layout(items: list[Row]) -> tuple[list[str], list[float], list[tuple[float, str]], float]:
    """Row labels and their y positions, a header line before each section, and the height used."""
    labels: list[str] = []
    ys: list[float] = []
    headers: list[tuple[float, str]] = []
    y, section = 0.0, ""
    for row in items:
        if row.section != section:
            section = row.section
            headers.append((y, section))
            y += 1.0
        labels.append(row.what)
        ys.append(y)
        y += 1.0
    return labels, ys, headers, y


def _bar(ax: Any, row: Row, at: float) -> None:
    """One comparison: the ratio bar, its min-max whisker, the target tick and the figures beside it."""
    ratio = row.ratio or 0.0
    ax.barh(at, ratio, 0.7, color=_COLORS[row.verdict])
    if row.lo is not None and row.hi is not None:
        ax.plot([row.lo, row.hi], [at, at], color="black", linewidth=1)
    if row.target:
        bound = float(row.target.split(" ")[1])
        ax.plot([bound, bound], [at - 0.45, at + 0.45], color="black", linewidth=2)
    ax.text(
        max(ratio, row.hi or 0.0) + 0.03,
        at,
        f"{ratio:.2f}x  ({fmt(row.ours, row.unit)} vs {row.ref_name} {fmt(row.ref, row.unit)})"
        + (f"  target {row.target}" if row.target else ""),
        va="center",
        fontsize=7,
    )


def _short(label: str, width: int = 38) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"
