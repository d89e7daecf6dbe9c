"""Reporting: JSON files, markdown tables, the comparison table and the sentences on what it
shows."""

import json

import numpy as np


def _to_json(value):
    if isinstance(value, dict):
        return {k: _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    if isinstance(value, (np.floating, np.integer)):
        return value.item()
    return value


def write_json(path, value):
    with open(path, "w") as f:
        json.dump(_to_json(value), f, indent=2)


def markdown_table(header, rows):
    """A markdown table: the header line, the `|---|` separator and one line a row.

    Cells are written with `str` (format numbers before); the lines are joined with
    newlines, without a final one. Every row has as many cells as `header`.

    Example:
    >>> print(markdown_table(["name", "accuracy"], [["I-JEPA", f"{0.9123:.3f}"]]))
    | name | accuracy |
    |---|---|
    | I-JEPA | 0.912 |
    """
    header = [str(cell) for cell in header]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for index, row in enumerate(rows):
        cells = [str(cell) for cell in row]
        if len(cells) != len(header):
            raise ValueError(f"markdown_table: row {index} {cells!r} has {len(cells)} cells, "
                             f"the header {len(header)}.")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def comparison_table(rows):
    """A markdown table from `{"name", "probe_accuracy", "knn_accuracy", ...}` rows."""
    cells = []
    for row in rows:
        loss = (f"{row['first_loss']:.4f} → {row['last_loss']:.4f}"
                if "first_loss" in row else "–")
        rank = f"{row['effective_rank']:.1f}" if row.get("effective_rank") is not None else "–"
        knn = f"{row['knn_accuracy']:.3f}" if row.get("knn_accuracy") is not None else "–"
        cells.append([row["name"], row.get("epochs", "–"), row.get("train_seconds", "–"), loss,
                      f"{row['probe_accuracy']:.3f}", knn, rank])
    return markdown_table(["features", "epochs", "train s", "loss first → last",
                           "linear probe", "kNN", "RankMe"], cells)


def _verdict(rows):
    """Plain sentences on what the table shows, against the study's goal."""
    by_name = {row["name"]: row for row in rows}
    pixels, untrained = by_name["raw pixels"], by_name["untrained encoder"]
    lines = []
    for row in rows[2:]:
        name = row["name"]
        gains = (row["probe_accuracy"] - untrained["probe_accuracy"],
                 row["knn_accuracy"] - untrained["knn_accuracy"])
        beats_pixels = row["probe_accuracy"] >= pixels["probe_accuracy"]
        lines.append(
            f"- {name}: linear {row['probe_accuracy']:.3f} ({gains[0]:+.3f} over the "
            f"untrained encoder), kNN {row['knn_accuracy']:.3f} ({gains[1]:+.3f}); "
            f"{'at or above' if beats_pixels else 'below'} raw pixels "
            f"({pixels['probe_accuracy']:.3f})."
            + (f" CollapseMonitor: {row['collapse']}" if row.get("collapse") else ""))
    control = next((r for r in rows if "alone" in r["name"]), None)
    regularised = next((r for r in rows if "+" in r["name"]), None)
    if control is not None and regularised is not None:
        difference = regularised["probe_accuracy"] - control["probe_accuracy"]
        lines.append(
            f"- What the I-JEPA prediction adds on top of its regulariser: "
            f"{difference:+.3f} linear, "
            f"{regularised['knn_accuracy'] - control['knn_accuracy']:+.3f} kNN "
            "(single seed; see recipes/mnist_study.md for several).")
    return "\n".join(lines)
