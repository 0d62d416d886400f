"""Pictures of a task evaluation report (``memstack eval tasks --json``), for people.

:func:`plot_task_evaluation` draws, from the report's per-task rows:

* ``task_actions_by_category.png``: the mean actions per task of each mode, per category and
  session, with the tasks each mode succeeded at over the tasks it ran above every bar;
* ``task_actions_per_task.png``: per task of the last session, the actions with memory against
  the actions without (``memory`` and ``no_memory``, else the first two modes of the report),
  with the lines y = x and y = 3.4x (the session-2 target) and failed runs marked;
* ``task_actions_by_subgoal_kind.png``: where the actions go: each mode's total actions per
  session, split by subgoal kind (find, navigate, pickup, ...).

A figure the report cannot support (one mode only; rows without subgoals, as in older reports) is
skipped with a logged warning; the others are still drawn. Each mode keeps its colour
(:data:`MODE_COLOURS`) in every figure.

``python -m memory_nodes.evaluation.figures REPORT.json --out DIR`` draws them from a saved report.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from memory_nodes.viz.map_views import matplotlib_classes

LOGGER = logging.getLogger(__name__)

#: One colour per memory mode, shared by every figure; the order is the bars' order.
MODE_COLOURS = {
    "memory": "tab:blue",
    "long_term": "tab:cyan",
    "short_term": "tab:purple",
    "no_memory": "tab:orange",
    "oracle": "tab:green",
}
#: Category (task set) colours of the per-task scatter: none is a mode's colour there.
CATEGORY_COLOURS = ("tab:red", "tab:purple", "tab:olive", "tab:brown", "tab:pink", "tab:gray")
#: Subgoal kinds in stacking order (bottom first), with fixed colours so figures compare.
KIND_COLOURS = {
    "find": "#4c72b0",
    "navigate": "#8fb0d8",
    "pickup": "#55a868",
    "put": "#c44e52",
    "put_down": "#e8a0a2",
    "open": "#8172b2",
    "close": "#b8aed6",
    "slice": "#ccb974",
    "other": "0.65",
}
#: A kind with a smaller share of all actions than this joins "other": a sliver is unreadable.
MIN_KIND_SHARE = 0.015
#: Target ratio of no-memory to memory actions in session 2 (see the README).
TARGET_ACTION_RATIO = 3.4
DPI = 110

FIGURE_BY_CATEGORY = "task_actions_by_category.png"
FIGURE_PER_TASK = "task_actions_per_task.png"
FIGURE_BY_SUBGOAL_KIND = "task_actions_by_subgoal_kind.png"

Row = dict[str, Any]


def _new_figure(width: float, height: float) -> Any:
    figure_cls, canvas_cls = matplotlib_classes("evaluation pictures")
    figure = figure_cls(figsize=(width, height), dpi=DPI, layout="constrained")
    canvas_cls(figure)
    return figure


def _save(figure: Any, path: Path, title: str, report: dict[str, Any], rows: list[Row]) -> Path:
    """Title the figure (with the report's label under it) and write it."""
    figure.suptitle(f"{title}\n{_report_label(report, rows)}", fontsize=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    return path


def _modes(report: dict[str, Any], rows: list[Row]) -> list[str]:
    """Modes with rows, in the order the evaluation ran them (``settings.modes``)."""
    present = list(dict.fromkeys(row["mode"] for row in rows))
    ran = [mode for mode in report.get("settings", {}).get("modes", []) if mode in present]
    return ran + [mode for mode in present if mode not in ran]


def _mode_colour(mode: str) -> str:
    return MODE_COLOURS.get(mode, "0.45")


def _mode_name(mode: str) -> str:
    return mode.replace("_", " ")


def _task_key(row: Row) -> tuple[str, str, Any]:
    return (str(row.get("task_set", "")), str(row.get("scene", "")), row.get("task_id"))


def _subgoal_kind(subgoal: str) -> str:
    return subgoal.split("(", 1)[0].strip() or "other"


def _report_label(report: dict[str, Any], rows: list[Row]) -> str:
    """Short provenance for titles: task sets, protocol, step budget."""
    sets = sorted({str(row.get("task_set", "")) for row in rows})
    settings = report.get("settings", {})
    parts = [", ".join(sets) if len(sets) <= 3 else f"{len(sets)} task sets"]
    if "protocol" in settings:
        parts.append(f"{settings['protocol']} home")
    if "max_steps" in settings:
        parts.append(f"budget {settings['max_steps']} steps")
    return "; ".join(parts)


def plot_task_evaluation(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """Draw the figures of a ``memstack eval tasks`` report into ``out_dir``; return their paths.

    Parameters
    ----------
    report
        The report as ``memstack eval tasks --json`` writes it; only ``tasks`` (one row per
        task, mode and session) and ``settings`` are read.
    out_dir
        Folder of the PNGs (created); files of the same name are replaced, and a skipped
        figure's file from an earlier run is left as it was.

    Returns
    -------
    list[Path]
        The PNGs written, in the order of the module docstring; a figure the report cannot
        support is left out, and why is logged as a warning.
    """
    out_dir = Path(out_dir)
    rows = [row for row in report.get("tasks", []) if "mode" in row and "actions" in row]
    if not rows:
        LOGGER.warning("no task rows in the report: no figures drawn")
        return []
    modes = _modes(report, rows)
    written = [_plot_by_category(report, rows, modes, out_dir / FIGURE_BY_CATEGORY)]
    if len(modes) < 2:
        LOGGER.warning(
            "%s skipped: the report has one mode (%s), nothing to compare it with",
            FIGURE_PER_TASK, modes[0],
        )  # fmt: skip
    else:
        written.append(_plot_per_task(report, rows, modes, out_dir / FIGURE_PER_TASK))
    if not any(row.get("subgoals") for row in rows):
        LOGGER.warning("%s skipped: the task rows have no subgoals", FIGURE_BY_SUBGOAL_KIND)
    else:
        written.append(_plot_by_subgoal_kind(report, rows, modes, out_dir / FIGURE_BY_SUBGOAL_KIND))
    return written


def _plot_by_category(
    report: dict[str, Any], rows: list[Row], modes: list[str], path: Path
) -> Path:
    """Grouped bars: mean actions per task, one panel per session, success counts on top."""
    sessions = sorted({row.get("session", 1) for row in rows})
    categories = sorted({str(row.get("task_set", "")) for row in rows})
    groups = categories + (["all tasks"] if len(categories) > 1 else [])
    cells: dict[tuple[int, str, str], list[Row]] = defaultdict(list)
    for row in rows:
        for group in (str(row.get("task_set", "")), "all tasks"):
            cells[(row.get("session", 1), group, row["mode"])].append(row)

    bars_per_panel = len(groups) * len(modes)
    figure = _new_figure(min(max(8.5, 1.5 + 0.6 * bars_per_panel * len(sessions)), 14.0), 5.4)
    axes = figure.subplots(1, len(sessions), sharey=True, squeeze=False)[0]
    width = min(0.8 / len(modes), 0.4)
    top = max(
        (sum(r["actions"] for r in cell) / len(cell) for cell in cells.values() if cell),
        default=1.0,
    )
    for axis, session in zip(axes, sessions, strict=True):
        for index, mode in enumerate(modes):
            xs, means, labels = [], [], []
            for position, group in enumerate(groups):
                cell = cells.get((session, group, mode), [])
                if not cell:
                    continue
                xs.append(position + (index - (len(modes) - 1) / 2) * width)
                means.append(sum(r["actions"] for r in cell) / len(cell))
                labels.append(f"{sum(bool(r.get('success')) for r in cell)}/{len(cell)}")
            bars = axis.bar(
                xs, means, width * 0.92, color=_mode_colour(mode), label=_mode_name(mode),
                edgecolor="white", linewidth=0.5,
            )  # fmt: skip
            for bar, mean, label in zip(bars, means, labels, strict=True):
                x = bar.get_x() + bar.get_width() / 2
                axis.text(x, mean + 0.015 * top, label, ha="center", va="bottom", fontsize=8.5)
                if mean < 0.1 * top:  # the mean would not fit inside its bar
                    continue
                axis.text(
                    x, mean / 2, f"{mean:.0f}", ha="center", va="center", fontsize=8,
                    color="white", rotation=90 if len(modes) > 2 else 0,
                )  # fmt: skip
        if len(groups) > len(categories):
            # Set the pooled group apart from the categories it pools.
            axis.axvline(len(categories) - 0.5, color="0.75", lw=0.8, ls="--")
        axis.set_xticks(range(len(groups)), [g.replace("Tasks", "") or g for g in groups])
        # Few bars would be drawn very wide; keep them about as wide as in a full report.
        pad = max(0.0, 1.2 - 0.5 * bars_per_panel)
        axis.set_xlim(-0.5 - pad, len(groups) - 0.5 + pad)
        axis.set_title(f"session {session}", fontsize=11)
        axis.set_ylim(0, top * 1.3)  # headroom: the legend sits above the tallest bar
        axis.grid(axis="y", lw=0.3, alpha=0.6)
        axis.set_axisbelow(True)
        axis.spines[["top", "right"]].set_visible(False)
    axes[0].set_ylabel("mean actions per task")
    axes[0].legend(
        title="mode", loc="upper left", ncols=len(modes), fontsize=9, title_fontsize=9,
        frameon=False,
    )  # fmt: skip
    title = "Mean actions per task, by category and mode (above each bar: tasks succeeded / run)"
    return _save(figure, path, title, report, rows)


def _compared_modes(modes: list[str]) -> tuple[str, str, bool]:
    """The (x, y) modes of the scatter and whether they are the usual memory / no memory."""
    if "memory" in modes and "no_memory" in modes:
        return "memory", "no_memory", True
    return modes[0], modes[1], False


def _plot_per_task(report: dict[str, Any], rows: list[Row], modes: list[str], path: Path) -> Path:
    """Scatter: each task's actions in mode x against mode y, last session, log scales."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import LogFormatter

    x_mode, y_mode, usual = _compared_modes(modes)
    session = max(row.get("session", 1) for row in rows)
    by_task: dict[tuple[str, str, Any], dict[str, Row]] = defaultdict(dict)
    for row in rows:
        if row.get("session", 1) == session and row["mode"] in (x_mode, y_mode):
            by_task[_task_key(row)][row["mode"]] = row
    pairs = [(key, runs[x_mode], runs[y_mode]) for key, runs in by_task.items() if len(runs) == 2]
    categories = sorted({key[0] for key, _, _ in pairs})
    colours = {c: CATEGORY_COLOURS[i % len(CATEGORY_COLOURS)] for i, c in enumerate(categories)}
    # Marker by outcome: a failed run's actions are where it gave up, not what the task takes.
    outcomes = {
        (True, True): ("o", "both succeeded"),
        (False, True): ("s", f"{_mode_name(x_mode)} failed"),
        (True, False): ("^", f"{_mode_name(y_mode)} failed"),
        (False, False): ("X", "both failed"),
    }
    budget = report.get("settings", {}).get("max_steps")
    figure = _new_figure(10.0, 7.4)
    axis = figure.add_subplot(1, 1, 1)
    # Actions can be 0 (a goal that already holds); log scales need a floor.
    floor = 1.0
    highest = max([floor * 10] + [max(a["actions"], b["actions"]) for _, a, b in pairs])
    lowest = min([highest] + [max(min(a["actions"], b["actions"]), floor) for _, a, b in pairs])
    limits = (0.8 * lowest, 1.6 * max(highest, budget or 0))
    for outcome, (marker, _) in outcomes.items():
        chosen = [
            (key, a, b)
            for key, a, b in pairs
            if (bool(a.get("success")), bool(b.get("success"))) == outcome
        ]
        if not chosen:
            continue
        axis.scatter(
            [max(a["actions"], floor) for _, a, _ in chosen],
            [max(b["actions"], floor) for _, _, b in chosen],
            c=[colours[key[0]] for key, _, _ in chosen], marker=marker, s=58, alpha=0.85,
            edgecolors="black", linewidths=0.5, zorder=3,
        )  # fmt: skip
    line = [limits[0], limits[1]]
    target = f"y = {TARGET_ACTION_RATIO:g}x" + (
        f": the target,\n{TARGET_ACTION_RATIO:g}x fewer actions with memory" if usual else ""
    )
    # The lines are named in the legend: labels on them would cover tasks somewhere.
    axis.plot(line, line, color="0.3", lw=1.0, zorder=2, label="y = x: same actions")
    axis.plot(
        line, [TARGET_ACTION_RATIO * v for v in line], color="0.3", lw=1.0, ls="--", zorder=2,
        label=target,
    )  # fmt: skip
    if budget:
        axis.axvline(budget, color="tab:red", lw=0.8, ls=":", zorder=1)
        axis.axhline(budget, color="tab:red", lw=0.8, ls=":", zorder=1,
                     label=f"step budget ({budget}):\nfailed runs may stop here")  # fmt: skip
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlim(*limits)
    axis.set_ylim(*limits)
    axis.set_aspect("equal")
    for side in (axis.xaxis, axis.yaxis):
        # Plain numbers (20, 100) read faster than powers of ten; minor ticks get them on
        # short ranges only.
        side.set_major_formatter(LogFormatter())
        side.set_minor_formatter(LogFormatter())
    axis.grid(True, which="major", lw=0.4, alpha=0.6)
    axis.grid(True, which="minor", lw=0.2, alpha=0.3)
    axis.set_xlabel(f"actions with {_mode_name(x_mode)} (log scale)")
    axis.set_ylabel(f"actions with {_mode_name(y_mode)} (log scale)")

    category_handles = [
        Line2D([], [], marker="o", ls="", color=colours[c], mec="black", mew=0.5, ms=8, label=c)
        for c in categories
    ]
    outcome_handles = [
        Line2D([], [], marker=marker, ls="", color="0.8", mec="black", mew=0.5, ms=8, label=text)
        for marker, text in outcomes.values()
    ]
    line_handles, _ = axis.get_legend_handles_labels()
    total_x = sum(a["actions"] for _, a, _ in pairs)
    total_y = sum(b["actions"] for _, _, b in pairs)
    both = [(a, b) for _, a, b in pairs if a.get("success") and b.get("success")]
    summary = [f"all {len(pairs)} tasks: {_ratio(total_y, total_x)}"]
    if both:
        ratio = _ratio(sum(b["actions"] for _, b in both), sum(a["actions"] for a, _ in both))
        summary.append(f"where both succeeded ({len(both)}): {ratio}")
    x_fewer = sum(b["actions"] > a["actions"] for _, a, b in pairs)
    x_more = sum(b["actions"] < a["actions"] for _, a, b in pairs)
    summary.append(f"{_mode_name(x_mode)} took fewer actions\nin {x_fewer} tasks, more in {x_more}")
    blocks = {
        "category": category_handles,
        "outcome": outcome_handles,
        "lines": line_handles,
        f"actions, {_mode_name(y_mode)} / {_mode_name(x_mode)}": [
            Line2D([], [], ls="", label=text) for text in summary
        ],
    }
    handles: list[Any] = []
    for header, members in blocks.items():
        spacer = [Line2D([], [], ls="", label=" ")] if handles else []
        handles += [*spacer, Line2D([], [], ls="", label=header), *members]
    # One legend of titled blocks, outside the axes: tasks may fill any corner.
    legend = axis.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=9,
        frameon=False, handlelength=2.0,
    )  # fmt: skip
    for text in legend.get_texts():
        if text.get_text() in blocks:
            text.set_fontweight("bold")
    title = f"Actions per task, session {session}: {_mode_name(x_mode)} vs {_mode_name(y_mode)}"
    if not usual:
        title += "\n(memory or no_memory missing from the report: comparing its first two modes)"
    return _save(figure, path, title, report, rows)


def _ratio(numerator: float, denominator: float) -> str:
    return f"{numerator / denominator:.2f}x" if denominator else "n/a"


def _kinds_in_order(totals: Counter[str]) -> tuple[list[str], set[str]]:
    """Kinds drawn on their own (stacking order) and those pooled as "other"."""
    everything = sum(totals.values()) or 1
    known = [kind for kind in KIND_COLOURS if kind != "other"]
    shown = [k for k in totals if totals[k] / everything >= MIN_KIND_SHARE]
    shown.sort(
        key=lambda k: (k == "other", known.index(k) if k in known else len(known), -totals[k])
    )
    return shown, {k for k in totals if k not in shown}


def _plot_by_subgoal_kind(
    report: dict[str, Any], rows: list[Row], modes: list[str], path: Path
) -> Path:
    """Stacked bars: each mode's total actions per session, split by subgoal kind."""
    sessions = sorted({row.get("session", 1) for row in rows})
    per_bar: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    runs: Counter[tuple[int, str]] = Counter()
    for row in rows:
        bar = (row.get("session", 1), row["mode"])
        runs[bar] += 1
        for subgoal in row.get("subgoals") or []:
            per_bar[bar][_subgoal_kind(str(subgoal.get("subgoal", "")))] += subgoal["actions"]
        # Actions no subgoal claims (none in current reports) still count towards the total.
        unclaimed = row["actions"] - sum(s["actions"] for s in row.get("subgoals") or [])
        if unclaimed > 0:
            per_bar[bar]["other"] += unclaimed
    totals: Counter[str] = Counter()
    for counts in per_bar.values():
        totals.update(counts)
    shown, pooled = _kinds_in_order(totals)
    kinds = shown + (["other"] if pooled and "other" not in shown else [])

    bars = [(session, mode) for session in sessions for mode in modes if runs[(session, mode)]]
    # Bars of one session sit together; a gap separates sessions.
    positions, x = [], 0.0
    for index, (session, _) in enumerate(bars):
        if index and session != bars[index - 1][0]:
            x += 0.6
        positions.append(x)
        x += 1.0
    figure = _new_figure(max(8.5, 3.5 + 1.15 * len(bars)), 5.6)
    axis = figure.add_subplot(1, 1, 1)
    bottoms = [0.0] * len(bars)
    heights = [sum(per_bar[bar].values()) for bar in bars]
    tallest = max(heights, default=1) or 1
    fallback = iter(("#937860", "#da8bc3", "#8c8c8c", "#64b5cd", "#dd8452"))
    for kind in kinds:
        if kind == "other":
            values = [sum(per_bar[bar][k] for k in pooled | {"other"}) for bar in bars]
            label = "other" + (
                "\n" + textwrap.fill(", ".join(sorted(pooled - {"other"})), 24)
                if pooled - {"other"}
                else ""
            )
        else:
            values = [per_bar[bar][kind] for bar in bars]
            label = kind
        colour = KIND_COLOURS.get(kind) or next(fallback, "0.5")
        axis.bar(
            positions, values, 0.7, bottom=bottoms, color=colour, label=label,
            edgecolor="white", linewidth=0.6,
        )  # fmt: skip
        for i, value in enumerate(values):
            if value >= 0.06 * tallest:
                share = 100 * value / heights[i] if heights[i] else 0
                axis.text(
                    positions[i], bottoms[i] + value / 2, f"{value}\n{share:.0f}%",
                    ha="center", va="center", fontsize=7.5, linespacing=0.95,
                    color="white" if kind in ("find", "pickup", "put", "open") else "black",
                )  # fmt: skip
        bottoms = [b + v for b, v in zip(bottoms, values, strict=True)]
    for position, height, bar in zip(positions, heights, bars, strict=True):
        axis.text(
            position, height + 0.01 * tallest, f"{height}\n({height / runs[bar]:.0f}/task)",
            ha="center", va="bottom", fontsize=8,
        )  # fmt: skip
    axis.set_xticks(positions, [_mode_name(mode) for _, mode in bars])
    for tick, (_, mode) in zip(axis.get_xticklabels(), bars, strict=True):
        tick.set_color(_mode_colour(mode))
        tick.set_fontweight("bold")
    for session in sessions:
        xs = [p for p, (s, _) in zip(positions, bars, strict=True) if s == session]
        if xs:
            axis.annotate(
                f"session {session}", ((min(xs) + max(xs)) / 2, 0), xytext=(0, -30),
                xycoords=("data", "axes fraction"), textcoords="offset points",
                ha="center", va="top", fontsize=10,
            )  # fmt: skip
    # Few bars would be drawn very wide; keep them about as wide as in a full report.
    pad = max(0.0, 1.6 - 0.4 * len(bars))
    axis.set_xlim(min(positions, default=0) - 0.6 - pad, max(positions, default=0) + 0.6 + pad)
    axis.set_ylim(0, tallest * 1.14)
    axis.set_ylabel("actions, all tasks (failed runs included)")
    axis.grid(axis="y", lw=0.3, alpha=0.6)
    axis.set_axisbelow(True)
    axis.spines[["top", "right"]].set_visible(False)
    handles, labels = axis.get_legend_handles_labels()
    # Legend top-down in the stacking order, as the bars read.
    axis.legend(
        handles[::-1], labels[::-1], title="subgoal kind", loc="upper left",
        bbox_to_anchor=(1.01, 1.0), fontsize=9, title_fontsize=9, frameon=False,
    )  # fmt: skip
    title = "Where the actions go: total actions by subgoal kind, per mode and session"
    return _save(figure, path, title, report, rows)


def main(argv: list[str] | None = None) -> int:
    """Command line: draw the figures of a saved report."""
    parser = argparse.ArgumentParser(description="Draw the figures of a task evaluation report.")
    parser.add_argument("report", type=Path, help="JSON written by memstack eval tasks --json")
    parser.add_argument("--out", type=Path, default=Path("."), help="folder of the PNGs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    def refuse(problem: str) -> int:  # bad input: one line on stderr, exit code 2
        print(f"{parser.prog}: error: {args.report}: {problem}"[:400], file=sys.stderr)
        return 2

    try:
        report = json.loads(args.report.read_text())
    except (OSError, ValueError) as error:
        return refuse(f"cannot read the report: {error}")
    if not isinstance(report, dict) or not isinstance(report.get("tasks"), list):
        return refuse("not a task evaluation report (no 'tasks' list)")
    if not all(isinstance(row, dict) for row in report["tasks"]):
        return refuse("every entry of 'tasks' must be an object")
    try:
        paths = plot_task_evaluation(report, args.out)
    except (KeyError, TypeError, ValueError) as error:  # a row whose fields are not numbers
        return refuse(f"a task row cannot be drawn: {error!r}")
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
