"""The A/B report for people: the arms plot, the sequential plot and ``summary.md``."""

from __future__ import annotations

import pandas as pd
from matplotlib.ticker import PercentFormatter

from ..markdown import fmt_p
from ..plotting import MODEL_COLOURS, message_figure, new_figure

LABELS = {
    "play_through_rate": "play-through rate",
    "likes_per_user": "likes per user",
    "skips_per_user": "skips per user",
    "full_plays_per_user": "full plays per user",
    "plays_per_session": "plays per session",
}
# each panel's y axis: what is counted, over whom (docs/definitions.md, "Per-arm metrics")
UNITS = {
    "play_through_rate": "full plays / plays\n(users with a counted play)",
    "likes_per_user": "likes per user in the week",
    "skips_per_user": "skips per user in the week",
    "full_plays_per_user": "full plays per user in the week",
}


def arms_figure(intervals: pd.DataFrame, confidence: float):
    """One panel per metric: each arm's mean with its confidence interval.

    With no mean in any arm (no user with events) the figure says so in words.
    """
    title = f"A/B arms: means with {confidence:.0%} intervals"
    if not len(intervals) or intervals["mean"].isna().all():
        return message_figure(
            title, "No user in either arm has a counted play: nothing to compare yet."
        )
    metrics = list(dict.fromkeys(intervals["metric"]))
    fig, axes = new_figure(width=3.2 * len(metrics), height=3.6, ncols=len(metrics))
    axes = list(axes) if len(metrics) > 1 else [axes]
    for ax, metric in zip(axes, metrics, strict=True):
        rows = intervals[intervals["metric"] == metric].reset_index(drop=True)
        for i, r in rows.iterrows():
            if r["mean"] is None or pd.isna(r["mean"]):
                continue
            lo = r["ci_low"] if pd.notna(r["ci_low"]) else r["mean"]
            hi = r["ci_high"] if pd.notna(r["ci_high"]) else r["mean"]
            ax.errorbar(
                [i],
                [r["mean"]],
                yerr=[[r["mean"] - lo], [hi - r["mean"]]],
                fmt="o",
                capsize=6,
                markersize=7,
                color=MODEL_COLOURS[r["arm"]],
            )
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels(
            [
                f"{a}\n{'baseline' if a == 'A' else 'CatBoost'}\n(n={n})"
                for a, n in zip(rows["arm"], rows["users"], strict=True)
            ]
        )
        ax.set_xlim(-0.6, len(rows) - 0.4)
        ax.set_title(LABELS.get(metric, metric))
        ax.set_ylabel(UNITS.get(metric, ""))
        if rows["mean"].isna().all():
            ax.text(
                0.5,
                0.5,
                "no user with\na counted play",
                ha="center",
                va="center",
                transform=ax.transAxes,
            )
            ax.set_yticks([])
    fig.suptitle(title)
    fig.tight_layout()
    return fig


#: Fewer users with plays than this in an arm by the week's end: the sequential plot
#: says so in one line instead of drawing a lift that a handful of users decide.
SEQUENTIAL_MIN_USERS = 10


def too_few_users_message(seq: pd.DataFrame, min_users: int = SEQUENTIAL_MIN_USERS) -> str:
    """The one-line reason the sequential view cannot be drawn ("" when it can)."""
    if seq.empty:
        return "No A/B data to draw: no day of the week has events"
    last = seq.sort_values("day").iloc[-1]
    n_a, n_b = int(last["users_a"]), int(last["users_b"])
    if min(n_a, n_b) >= min_users:
        return ""
    return (
        f"Too few users to draw the lift: {n_a} in arm A and {n_b} in arm B with counted plays "
        f"by day {int(last['day'])} (fewer than {min_users} in an arm)"
    )


def sequential_figure(seq: pd.DataFrame, confidence: float):
    """The primary metric's lift after each day: the always-valid confidence sequence
    narrowing day by day, and the fixed-horizon interval beside it (valid on the
    planned day only). The day of the sequential decision is marked.

    With almost no users in an arm (:func:`too_few_users_message`) the figure
    holds that one line instead of an empty frame.
    """
    fig, ax = new_figure(width=7.5, height=3.9)
    message = too_few_users_message(seq)
    if message:
        ax.axis("off")
        ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True, fontsize=10)
        fig.tight_layout()
        return fig
    if "cs_low" in seq:
        cs = seq.dropna(subset=["cs_low", "cs_high"])
        if len(cs):
            ax.fill_between(
                cs["day"],
                cs["cs_low"],
                cs["cs_high"],
                alpha=0.18,
                color=MODEL_COLOURS["B"],
                label=f"{confidence:.0%} confidence sequence (always valid)",
            )
    ok = seq.dropna(subset=["lift", "ci_low", "ci_high"])
    if len(ok):
        ax.plot(
            ok["day"],
            ok["ci_low"],
            "--",
            color="grey",
            linewidth=0.9,
            label=f"{confidence:.0%} fixed-horizon interval (planned day only)",
        )
        ax.plot(ok["day"], ok["ci_high"], "--", color="grey", linewidth=0.9)
        ax.plot(ok["day"], ok["lift"], "o-", color=MODEL_COLOURS["B"], label="lift B/A - 1")
    if "decision" in seq:
        done = seq[seq["decision"] != "keep running"]
        if len(done):
            first = done.iloc[0]
            ax.axvline(first["day"], color="black", linestyle=":", linewidth=1.0)
            ax.annotate(
                f"{first['decision']} (day {int(first['day'])})",
                (first["day"], 1.0),
                xycoords=("data", "axes fraction"),
                ha="right",
                va="top",
                fontsize=8,
            )
    ax.axhline(0.0, color="black", linewidth=0.8)
    ax.set_xlabel("day of the experiment (cumulative data)")
    ax.set_ylabel("lift of the play-through rate,\nB / A − 1")
    ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
    ax.set_xticks(list(seq["day"]))
    ax.set_title("Lift as the days accrue: the sequence may be read every day", fontsize=9)
    ax.legend(loc="best", fontsize=7)
    fig.tight_layout()
    return fig


def holdout_lines(block: dict | None) -> list[str]:
    """The summary's paragraph on the global holdout (:mod:`.holdout`); none without one."""
    if not block or not block.get("users"):
        return []
    vs = block["experiment_vs_holdout"]
    return [
        "",
        f"Global holdout ({block['share']:.0%} of listeners, salt `{block['salt']}`, served the "
        f"baseline and left out of A vs B): {block['users']:,} users, play-through rate "
        f"{block['play_through_rate']}. The experiment's listeners (A and B) against it: "
        f"{_effect(vs)}.",
    ]


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+.2%}"


def _effect(c: dict) -> str:
    """A comparison's cell: the relative lift [CI], p; or the difference when it is undefined."""
    p = f"p = {fmt_p(c.get('p_value'))}"
    if c.get("lift") is not None:
        return f"{_pct(c['lift'])} [{_pct(c.get('ci_low'))}, {_pct(c.get('ci_high'))}], {p}"
    diff = c.get("abs_diff", c.get("diff"))
    if diff is None:
        return "n/a"
    lo, hi = c.get("abs_ci_low"), c.get("abs_ci_high")
    ci = f" [{lo:+.4f}, {hi:+.4f}]" if lo is not None and hi is not None else ""
    return f"difference {diff:+.4f}{ci}, {p} (lift undefined: {c.get('lift_note') or 'n/a'})"


def _num(value: float | None, digits: int = 4) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _sequential_lines(metrics: dict) -> list[str]:
    """The always-valid read-out, the multiplicity correction and the guardrails in words."""
    lines = []
    seq = metrics.get("sequential")
    if seq:
        days = metrics.get("days") or {}
        when = f" on day {seq['day']} (of at most {days.get('max')})" if seq.get("day") else ""
        cs = (
            f"lift {_pct(seq.get('lift'))}, {1 - metrics['alpha']:.0%} confidence sequence "
            f"[{_pct(seq.get('cs_low'))}, {_pct(seq.get('cs_high'))}], always-valid "
            f"p = {fmt_p(seq.get('p_value'))}"
            if seq.get("lift") is not None
            else "no estimate"
        )
        lines += [
            "",
            f"Always-valid read-out ({seq['method']}; N* = {seq['tuning_n']:g}): "
            f"**{seq['decision']}**{when}: {cs}. It may be read every day; the decision "
            "above is this one.",
        ]
        fixed = metrics.get("fixed_horizon")
        if fixed:
            planned = f" (day {days['planned']})" if days.get("planned") else ""
            lines += [
                "",
                f"Fixed-horizon read-out at the planned horizon{planned}: {fixed['decision']} "
                f"({fixed['reason']}). Valid only when read once, on that day.",
            ]
    mult = metrics.get("multiplicity")
    if mult:
        moved = ", ".join(LABELS.get(m, m.replace("_", " ")) for m in mult["moved"]) or "none"
        name = "Holm" if mult["method"] == "holm" else "Benjamini-Hochberg"
        lines += ["", f"Secondary metrics that moved after the {name} correction: {moved}."]
    for g in (metrics.get("guardrails") or {}).values():
        lines += ["", f"Guardrail ({g['status']}): {g['note']}."]
    return lines


def summary_markdown(metrics: dict, context: dict) -> str:
    """A few lines a product manager can read: the decision, why, and the numbers.

    ``context``: ``week_start`` (the A/B week), ``mode`` notes and the offline
    expectation if known.
    """
    a, b = metrics["arms"]["A"], metrics["arms"]["B"]
    mode = metrics["mode"]
    title = "A/B replay estimate" if mode == "replay" else "A/B test"
    lines = [
        f"# {title}: baseline (A) vs CatBoost (B) playlists, week of {context['week_start']}",
        "",
        f"**Decision: {metrics['decision']}.** {metrics['reason'][0].upper()}"
        f"{metrics['reason'][1:]}.",
        "",
    ]
    if mode == "replay":
        lines += [
            "*Replay on a real dump: an estimate, not an experiment.* Users never saw these "
            "playlists; each arm is scored by how many of the served tracks its users actually "
            "played through, skipped and liked in the held-out week.",
            "",
        ]
    else:
        lines += [
            "Simulation: the synthetic service's behaviour model played the week with each "
            "user offered their arm's playlists on the weekly shelf (seeded; users keep their "
            "usual listening and open the shelf in extra playlist sessions). Outcomes count "
            "the playlist plays.",
            "",
        ]
    lines += [
        "| | A (baseline) | B (CatBoost) | B vs A |",
        "|---|---:|---:|---:|",
        f"| users | {a['users']} | {b['users']} | SRM p = {fmt_p(metrics['srm_p_value'])} |",
        f"| users with plays | {metrics['users_with_plays']['A']} | "
        f"{metrics['users_with_plays']['B']} | |",
        f"| play-through rate | {_num(a['play_through_rate'])} | "
        f"{_num(b['play_through_rate'])} | {_effect(metrics)} |",
    ]
    for m, s in metrics["secondary"].items():
        lines.append(
            f"| {LABELS.get(m, m)} | {_num(s['mean_a'])} | {_num(s['mean_b'])} | {_effect(s)} |"
        )
    lines += _sequential_lines(metrics)
    lines += [
        "",
        "Relative lifts: delta method on log(B/A), with its matching z-test; where a lift "
        "is undefined (a zero mean, or an arm without variance) the difference B - A with "
        "Welch's interval and test.",
    ]
    lines += [
        "",
        f"Minimum detectable effect (relative, alpha {metrics['alpha']}, power "
        f"{metrics['power']}): {_pct(metrics['mde']).lstrip('+')}.",
    ]
    cuped = metrics.get("cuped")
    if cuped:
        lines += [
            "",
            f"CUPED (pre-experiment covariates: {', '.join(cuped['covariates'])}; variance "
            f"reduced by {_pct(cuped['variance_reduction']).lstrip('+')}): play-through rate "
            f"lift {_pct(cuped['lift'])} [{_pct(cuped['ci_low'])}, {_pct(cuped['ci_high'])}], "
            f"p = {fmt_p(cuped['p_value'])}, MDE {_pct(cuped['mde']).lstrip('+')}. "
            "The plain comparison above is the primary one and makes the decision "
            "(it assumes nothing about the covariates and is what DESIGN §6 names); CUPED is "
            "the same comparison with what was predictable before the week removed, a more "
            "precise read that should agree with it.",
        ]
    lines += holdout_lines(metrics.get("holdout"))
    if context.get("note"):
        lines += ["", context["note"]]
    lines += [
        "",
        "Plots: `arms.png` (each arm with its interval), `sequential.png` "
        "(the lift as the week's days accrue).",
        "",
    ]
    return "\n".join(lines)


#: The read-outs of the peeking table, in the plot's order, with their labels.
PEEKING_READOUTS = {
    "fixed_once": "fixed horizon,\nread once (day 7)",
    "fixed_daily": "fixed horizon,\nread daily",
    "fixed_batch": "fixed horizon,\nread every batch",
    "sequential_daily": "sequence,\nread daily",
    "sequential_batch": "sequence,\nread every batch",
}


def peeking_figure(table: pd.DataFrame, alpha: float, note: str = ""):
    """False-positive rate (A/A) and power (planted effects) per read-out, with intervals."""
    if table.empty:
        return message_figure("A/A experiments with peeking", note or "No experiments to show.")
    kinds = list(dict.fromkeys(table["kind"]))
    fig, axes = new_figure(width=5.4 * len(kinds), height=4.0, ncols=len(kinds))
    axes = list(axes) if len(kinds) > 1 else [axes]
    for ax, kind in zip(axes, kinds, strict=True):
        rows = table[table["kind"] == kind].set_index("readout")
        order = [r for r in PEEKING_READOUTS if r in rows.index]
        y = rows.loc[order, "rate"].to_numpy(dtype=float)
        lo = rows.loc[order, "rate_ci_low"].to_numpy(dtype=float)
        hi = rows.loc[order, "rate_ci_high"].to_numpy(dtype=float)
        colours = [MODEL_COLOURS["B"] if r.startswith("sequential") else "grey" for r in order]
        ax.bar(range(len(order)), y, color=colours, alpha=0.7)
        ax.errorbar(
            range(len(order)), y, yerr=[y - lo, hi - y], fmt="none", color="black", capsize=4
        )
        ax.set_xticks(range(len(order)))
        ax.set_xticklabels([PEEKING_READOUTS[r] for r in order], fontsize=6.5)
        if kind == "A/A":
            ax.axhline(alpha, color="red", linewidth=1.0, linestyle="--", label=f"alpha {alpha}")
            ax.set_title("A/A: false-positive rate (stopped at first significant look)", fontsize=8)
            ax.legend(fontsize=7)
        else:
            days = rows.loc[order, "mean_days"].tolist()
            for i, d in enumerate(days):
                if d is not None and not pd.isna(d):
                    ax.text(i, y[i] + 0.02, f"{d:.1f} d", ha="center", fontsize=7)
            ax.set_title(f"{kind}: power (ship B) and mean days to it", fontsize=8)
        ax.yaxis.set_major_formatter(PercentFormatter(xmax=1.0))
        ax.set_ylim(0, 1.05)
    fig.tight_layout()
    return fig
