"""Plain tables rendered as Markdown or HTML, and the benchmark comparison tables."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from dexego.evaluate.results import SPLITS, BenchmarkResults

MISSING = "—"


@dataclass(frozen=True)
class Table:
    """A titled table of strings, rendered as Markdown (``to_markdown``) or HTML (``to_html``)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"table {self.title!r}: row {row} has {len(row)} cells, header has {len(self.header)}")

    def to_markdown(self) -> str:
        def line(cells: Sequence[str]) -> str:
            return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

        align = ["---"] + ["---:"] * (len(self.header) - 1)
        parts = [f"### {self.title}", "", line(self.header), "| " + " | ".join(align) + " |"]
        parts += [line(row) for row in self.rows]
        if self.note:
            parts += ["", self.note]
        return "\n".join(parts) + "\n"

    def to_html(self) -> str:
        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self.rows)
        note = f'<p class="note">{html.escape(self.note)}</p>' if self.note else ""
        return (
            f"<h3>{html.escape(self.title)}</h3>\n<table>\n<thead><tr>{head}</tr></thead>\n"
            f"<tbody>{body}</tbody>\n</table>\n{note}"
        )


def percent(rate: float | None) -> str:
    return MISSING if rate is None else f"{100.0 * rate:.1f}"


def number(value: float | None, digits: int = 2) -> str:
    return MISSING if value is None else f"{value:.{digits}f}"


def success_table(
    results: Sequence[BenchmarkResults],
    title: str = "Mean success (SR) and progress (PSR) rates",
    labels: Sequence[str] | None = None,
    note: str = "",
) -> Table:
    """SR/PSR per policy (rows) and split (columns), means over the tasks each policy ran.

    The one place the policy-by-split success table is rendered: the benchmark overview of
    ``dexego eval report``/``eval table`` and the answer of the demo report both use it."""
    if not results:
        raise ValueError("no benchmark results to tabulate")
    labels = list(labels) if labels is not None else _unique_labels([r.policy for r in results])
    splits = [s for s in SPLITS if any(s in r.scores for r in results)]
    rows = []
    for label, result in zip(labels, results):
        row = [label]
        for split in splits:
            sr, psr, count = _means(result, split)
            row += [percent(sr), percent(psr), str(count)]
        rows.append(tuple(row))
    header = ["Policy"] + [f"{split} {col}" for split in splits for col in ("SR %", "PSR %", "tasks")]
    return Table(title, tuple(header), tuple(rows),
                 note or "Means are over the tasks each policy was evaluated on; SR/PSR in percent.")  # fmt: skip


def benchmark_tables(results: Sequence[BenchmarkResults]) -> list[Table]:
    """An overview (:func:`success_table`) plus one task-by-policy table per split present."""
    if not results:
        raise ValueError("no benchmark results to tabulate")
    labels = _unique_labels([r.policy for r in results])
    splits = [s for s in SPLITS if any(s in r.scores for r in results)]
    tables = [success_table(results, labels=labels)]
    for split in splits:
        tasks = sorted({task for r in results for task in r.scores.get(split, {})})
        header = ["Task"] + [f"{label} {col}" for label in labels for col in ("SR", "PSR")]
        rows = []
        for task in tasks:
            row = [task]
            for result in results:
                score = result.scores.get(split, {}).get(task)
                row += [MISSING, MISSING] if score is None else [percent(score.sr), percent(score.psr)]
            rows.append(tuple(row))
        mean_row = ["Mean"]
        for result in results:
            sr, psr, _ = _means(result, split)
            mean_row += [percent(sr), percent(psr)]
        rows.append(tuple(mean_row))
        rollouts = sorted({s.rollouts for r in results for s in r.scores.get(split, {}).values()})
        note = f"Rollouts per task: {', '.join(map(str, rollouts))}. {MISSING} = not evaluated."
        tables.append(
            Table(f"{split.capitalize()} backgrounds: SR / PSR (%) per task", tuple(header), tuple(rows), note)
        )
    return tables


def _means(result: BenchmarkResults, split: str) -> tuple[float | None, float | None, int]:
    scores = list(result.scores.get(split, {}).values())
    if not scores:
        return None, None, 0
    return sum(s.sr for s in scores) / len(scores), sum(s.psr for s in scores) / len(scores), len(scores)


def _unique_labels(labels: list[str]) -> list[str]:
    """Policy labels with ``#2``, ``#3`` appended to repeats, so columns stay distinguishable."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} #{seen[label]}")
    return out


def tables_to_markdown(tables: Sequence[Table]) -> str:
    return "\n".join(t.to_markdown() for t in tables)
