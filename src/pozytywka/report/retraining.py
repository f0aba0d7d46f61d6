"""The top of a retraining pull request: last week in hindsight, and what moved in the data.

Rendered from ``metrics/hindsight.json`` (``pozytywka.retrain.hindsight``),
``metrics/drift.json`` (``pozytywka.retrain.drift``) and the row accounts of
``metrics/data_quality.json`` at the base and in the workspace: the dump grows by
appending a week, so the difference of the two accounts is the new week's.
Pure: dictionaries in, Markdown out (empty when there is nothing to say).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..markdown import fmt_pct, fmt_value, table

WARN = "⚠️"
MEASURE_LABELS = {
    "events": "events",
    "active_users": "active users",
    "new_tracks": "new tracks (first played)",
    "skip_rate": "skip rate (skips / plays)",
}


def hindsight_section(hindsight: Mapping[str, Any] | None, by_playlist: list[dict]) -> str:
    """ "Last week, in hindsight": the base's published playlists scored on their week."""
    if not hindsight:
        return ""
    status = hindsight.get("status")
    head = "### Last week, in hindsight"
    if status == "no_previous":
        return f"{head}\n\nNo playlists were published at the base revision: nothing to score."
    week = f"{hindsight.get('iso_week')} (week of {hindsight.get('week_start')})"
    if status == "not_in_data":
        return (
            f"{head}\n\nThe playlists published for {week} cannot be scored yet: the data "
            f"ends with the week of {hindsight.get('last_week_in_data')}."
        )
    k = hindsight.get("k", "k")
    promised = hindsight.get("promised_ndcg_at_k")
    lines = [
        head,
        "",
        f"The **{hindsight.get('model')}** playlists published at the base for {week}, "
        f"scored on what listeners did that week: NDCG@{k} **{fmt_value(hindsight['ndcg_at_k'])}** "
        f"(the base's backtest promised {fmt_value(promised)}), capture ratio "
        f"**{fmt_value(hindsight['capture_ratio'])}** "
        f"({hindsight['captured_popularity']} of the oracle's {hindsight['oracle_popularity']} "
        "listeners with a full play).",
    ]
    ab = hindsight.get("ab")
    if ab and ab.get("lift") is not None:
        label = "A/B replay estimate" if ab.get("mode") == "replay" else "A/B simulation"
        lines.append(
            f"{label} of that week at the base: {ab.get('metric', 'metric')} lift "
            f"{fmt_pct(ab.get('lift'))} (95% CI {fmt_pct(ab.get('ci_low'))} to "
            f"{fmt_pct(ab.get('ci_high'))}), decision: {ab.get('decision')}."
        )
    rows = [
        [
            r["genre"],
            r["tracks"],
            r["captured_popularity"],
            r["oracle_popularity"],
            fmt_value(r["capture_ratio"]),
            fmt_value(r["ndcg_at_k"]),
            fmt_value(r["precision_at_k"]),
        ]
        for r in by_playlist
    ]
    if rows:
        headers = [
            "genre",
            "tracks",
            "captured popularity",
            "oracle",
            "capture ratio",
            f"NDCG@{k}",
            f"precision@{k}",
        ]
        lines += ["", table(headers, rows, align="lrrrrrr")]
    return "\n".join(lines)


def _range(entry: Mapping[str, Any], digits: int) -> str:
    if "min" not in entry:
        return "–"
    return f"{fmt_value(entry['min'], digits)} – {fmt_value(entry['max'], digits)}"


def drift_section(drift: Mapping[str, Any] | None) -> str:
    """What moved in the newest week against the previous weeks' range (flags marked)."""
    if not drift:
        return ""
    n = drift.get("previous_weeks", 0)
    lines = [
        f"### What moved in the data: week of {drift.get('week_start')} vs the {n} week(s) before",
        "",
    ]
    flags = drift.get("flags", [])
    lines.append(
        f"{WARN} **{len(flags)} beyond the thresholds**: " + ", ".join(f"`{f}`" for f in flags)
        if flags
        else "✅ Nothing beyond the thresholds (`drift` params)."
    )
    rows = []
    for name, entry in drift.get("measures", {}).items():
        digits = 4 if name == "skip_rate" else 0
        mark = f" {WARN}" if entry.get("flagged") else ""
        rows.append(
            [
                MEASURE_LABELS.get(name, name),
                fmt_value(entry["value"], digits) + mark,
                _range(entry, digits),
            ]
        )
    for genre, entry in drift.get("genres", {}).items():
        mark = f" {WARN}" if entry.get("flagged") else ""
        rows.append(
            [
                f"share of plays: {genre}",
                f"{entry['value']:.1%}" + mark,
                "–" if "min" not in entry else f"{entry['min']:.1%} – {entry['max']:.1%}",
            ]
        )
    lines += ["", table(["measure", "this week", f"previous {n} weeks (min – max)"], rows, "lrr")]
    return "\n".join(lines)


def new_week_quality(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> str:
    """The data-quality account of the rows the new week added (after − before, sessions)."""
    if not after or "sessions" not in after:
        return ""
    now = after["sessions"]
    old = (before or {}).get("sessions") or {}
    keys = ("rows_read", "rows_kept", "rows_dropped")
    added = {k: int(now.get(k, 0)) - int(old.get(k, 0)) for k in keys}
    reasons = []
    for group in ("dropped", "repaired", "flagged"):
        for reason, count in (now.get(group) or {}).items():
            delta = int(count) - int((old.get(group) or {}).get(reason, 0))
            if delta:
                reasons.append([group, reason, delta])
    text = (
        "### Data quality of the new rows\n\n"
        f"Session rows: {added['rows_read']:+d} read, {added['rows_kept']:+d} kept, "
        f"{added['rows_dropped']:+d} dropped (`metrics/data_quality.json`, this PR − base)."
    )
    if reasons:
        text += "\n\n" + table(["", "reason", "rows"], reasons, "llr")
    return text


def retraining_sections(
    hindsight: Mapping[str, Any] | None,
    by_playlist: list[dict],
    drift: Mapping[str, Any] | None,
    quality_before: Mapping[str, Any] | None,
    quality_after: Mapping[str, Any] | None,
) -> list[str]:
    """The sections a retraining PR starts with (none when the files are absent)."""
    parts = [hindsight_section(hindsight, by_playlist), drift_section(drift)]
    if drift:
        parts.append(new_week_quality(quality_before, quality_after))
    return [p for p in parts if p]
