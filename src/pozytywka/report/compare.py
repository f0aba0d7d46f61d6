"""What changed between two versions of the pipeline's results (pure functions).

Inputs are the parsed files of DESIGN §6 (``metrics/offline.json``,
``metrics/ab.json``, ``reports/playlists/playlists.json``) at the base revision and
in the workspace; ``None`` stands for "not present" (e.g. the first pull request
that adds a stage). The PR report renders these results; the summary reuses the
CI and decision helpers so both say the same thing about a result.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..playlists.skipped import SKIPPED_SHOWN, skip_reason_kind, skipped_summary  # noqa: F401

OFFLINE_MODELS = ("baseline", "catboost")
OFFLINE_METRICS = {
    "ndcg_at_k": "NDCG@{k}",
    "precision_at_k": "precision@{k}",
    "recall_at_k": "recall@{k}",
    "capture_ratio": "capture ratio",
}
AB_ARM_METRICS = ("users", "play_through_rate", "likes_per_user", "skips_per_user")
SRM_ALPHA = 0.001  # sample-ratio mismatch is only called at a strict level (a common choice)
# Decisions meaning "B (CatBoost) is better": ours, and the ab_test stage's own words.
B_WINS = frozenset({"B (CatBoost) wins", "ship B"})


@dataclass(frozen=True)
class Thresholds:
    """How much worse a result may get before the report flags it as a regression.

    Offline metrics are fractions in [0, 1]; a drop of 0.01 NDCG is about the
    week-to-week noise of the default synthetic backtest, so smaller moves are
    not called regressions.
    """

    offline_drop: float = 0.01
    alpha: float = 0.05


def number(section: Mapping[str, Any] | None, key: str) -> float | None:
    """A numeric value from a metrics section, or None when the file or key is missing."""
    if not section:
        return None
    value = section.get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def delta(before: float | None, after: float | None) -> float | None:
    return None if before is None or after is None else after - before


def metric_ci(section: Mapping[str, Any] | None, key: str) -> tuple[float, float] | None:
    """The confidence interval stored next to a metric, if the evaluate stage wrote one.

    Accepts the shapes a metrics writer naturally produces: ``<key>_ci: [lo, hi]``,
    ``<key>_ci_low``/``<key>_ci_high``, or ``ci: {<key>: [lo, hi]}``.
    """
    if not section:
        return None
    pair = section.get(f"{key}_ci")
    if pair is None and isinstance(section.get("ci"), Mapping):
        pair = section["ci"].get(key)
    if isinstance(pair, Mapping):
        pair = (pair.get("low", pair.get("lo")), pair.get("high", pair.get("hi")))
    if pair is None:
        pair = (section.get(f"{key}_ci_low"), section.get(f"{key}_ci_high"))
    if (
        isinstance(pair, (list, tuple))
        and len(pair) == 2
        and all(isinstance(v, (int, float)) for v in pair)
    ):
        return float(pair[0]), float(pair[1])
    return None


#: How an A/B result is headed, by ``ab.json``'s ``mode``: a replay is no simulation.
AB_HEADINGS = {
    "simulation": "A/B simulation",
    "replay": "A/B replay estimate (not an experiment)",
}


def ab_heading(ab: Mapping[str, Any] | None) -> str:
    """ "A/B simulation", "A/B replay estimate (not an experiment)", or "A/B test"."""
    return AB_HEADINGS.get(str((ab or {}).get("mode")), "A/B test")


def ab_decision(ab: Mapping[str, Any] | None, alpha: float = 0.05) -> str:
    """The A/B result in words: which arm won, or that the test cannot tell.

    A winner needs both p < alpha and a CI that excludes zero; a sample-ratio
    mismatch makes any result untrustworthy, so it overrides the decision.
    """
    if not ab:
        return "not available"
    srm = number(ab, "srm_p_value")
    if srm is not None and srm < SRM_ALPHA:
        return f"sample-ratio mismatch (p={srm:.1e}): do not trust this result"
    if isinstance(ab.get("decision"), str):
        return ab["decision"]
    p, lo, hi = number(ab, "p_value"), number(ab, "ci_low"), number(ab, "ci_high")
    if p is None or lo is None or hi is None:
        return "incomplete result"
    if p < alpha and lo > 0:
        return "B (CatBoost) wins"
    if p < alpha and hi < 0:
        return "A (baseline) wins"
    return "no significant difference"


@dataclass(frozen=True)
class Change:
    """One metric before and after, and whether the change is a flagged regression."""

    label: str
    before: float | None
    after: float | None
    regression: bool = False

    @property
    def delta(self) -> float | None:
        return delta(self.before, self.after)


def offline_changes(
    before: Mapping[str, Any] | None,
    after: Mapping[str, Any] | None,
    thresholds: Thresholds = Thresholds(),
) -> dict[str, list[Change]]:
    """Per model, each offline metric before/after; CatBoost drops beyond the threshold flagged.

    Only CatBoost is gated: it is the model this repository ships, while the
    baseline moving means the data moved (that is what the params diff explains).
    """
    result: dict[str, list[Change]] = {}
    for model in OFFLINE_MODELS:
        rows = []
        for key in OFFLINE_METRICS:
            b = number((before or {}).get(model), key)
            a = number((after or {}).get(model), key)
            d = delta(b, a)
            flagged = model == "catboost" and d is not None and d < -thresholds.offline_drop
            rows.append(Change(key, b, a, flagged))
        result[model] = rows
    return result


def margin(offline: Mapping[str, Any] | None, key: str = "ndcg_at_k") -> float | None:
    """CatBoost minus baseline on one offline metric (positive: CatBoost better)."""
    if not offline:
        return None
    return delta(number(offline.get("baseline"), key), number(offline.get("catboost"), key))


def regressions(
    offline_before: Mapping[str, Any] | None,
    offline_after: Mapping[str, Any] | None,
    ab_before: Mapping[str, Any] | None,
    ab_after: Mapping[str, Any] | None,
    thresholds: Thresholds = Thresholds(),
) -> list[str]:
    """One line per problem a reviewer must not miss (empty list: nothing flagged)."""
    k = (offline_after or offline_before or {}).get("k", "k")
    problems = []
    for change in offline_changes(offline_before, offline_after, thresholds)["catboost"]:
        if change.regression:
            label = OFFLINE_METRICS[change.label].format(k=k)
            problems.append(
                f"CatBoost {label} fell by {-change.delta:.4f} "
                f"({change.before:.4f} → {change.after:.4f}; threshold {thresholds.offline_drop})"
            )
    m_before, m_after = margin(offline_before), margin(offline_after)
    if m_after is not None and m_after <= 0 and (m_before is None or m_before > 0):
        problems.append(
            f"CatBoost no longer beats the baseline on NDCG@{k} (margin {m_after:+.4f})"
        )
    d_before = ab_decision(ab_before, thresholds.alpha)
    d_after = ab_decision(ab_after, thresholds.alpha)
    if ab_after and d_after.startswith("sample-ratio"):
        problems.append(f"A/B test: {d_after}")
    elif d_before in B_WINS and d_after not in B_WINS and ab_after:
        problems.append(f"A/B test: B (CatBoost) won at the base ({d_before}), now: {d_after}")
    return problems


# --- playlists -----------------------------------------------------------------


@dataclass(frozen=True)
class GenreChange:
    """How one published genre playlist changed: tracks that entered and left it."""

    genre: str
    entered: list[dict[str, Any]]
    left: list[dict[str, Any]]
    size_before: int
    size_after: int
    reordered: bool = False


@dataclass(frozen=True)
class PlaylistDiff:
    week_before: str | None
    week_after: str | None
    appeared: list[GenreChange] = field(default_factory=list)
    disappeared: list[GenreChange] = field(default_factory=list)
    changed: list[GenreChange] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def any_change(self) -> bool:
        return bool(self.appeared or self.disappeared or self.changed)


def _by_genre(doc: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    if not doc:
        return {}
    return {p["genre"]: list(p.get("tracks", [])) for p in doc.get("playlists", [])}


def playlist_diff(
    before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
) -> PlaylistDiff:
    """Per genre, which tracks entered and left the published playlists (by ``track_id``).

    Genres keep the order of the workspace document (the order the playlists stage's
    set selection took them); entered/left tracks keep their playlist order.
    """
    old, new = _by_genre(before), _by_genre(after)
    diff = PlaylistDiff(
        week_before=(before or {}).get("week_start"), week_after=(after or {}).get("week_start")
    )
    for genre, tracks in new.items():
        if genre not in old:
            diff.appeared.append(GenreChange(genre, tracks, [], 0, len(tracks)))
            continue
        before_tracks = old[genre]
        old_ids = [t["track_id"] for t in before_tracks]
        new_ids = [t["track_id"] for t in tracks]
        entered = [t for t in tracks if t["track_id"] not in set(old_ids)]
        left = [t for t in before_tracks if t["track_id"] not in set(new_ids)]
        if entered or left:
            diff.changed.append(GenreChange(genre, entered, left, len(old_ids), len(new_ids)))
        elif old_ids != new_ids:
            diff.changed.append(GenreChange(genre, [], [], len(old_ids), len(new_ids), True))
        else:
            diff.unchanged.append(genre)
    for genre, tracks in old.items():
        if genre not in new:
            diff.disappeared.append(GenreChange(genre, [], tracks, len(tracks), 0))
    return diff


def skipped_genres(doc: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    """(genre, reason) for genres the playlists stage could not fill (contracts.md)."""
    raw: Sequence[Any] | Mapping[str, Any] = (doc or {}).get("skipped") or []
    if isinstance(raw, Mapping):
        return [(str(g), str(r)) for g, r in raw.items()]
    out = []
    for item in raw:
        if isinstance(item, Mapping):
            out.append((str(item.get("genre")), str(item.get("reason", ""))))
        else:
            out.append((str(item), ""))
    return out


#: Skipped genres named in logs and the summary; the rest are in the report file.
