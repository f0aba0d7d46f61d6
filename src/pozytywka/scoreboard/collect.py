"""Read one run's per-week results into the scoreboard's comparisons.

Every comparison is rebuilt from the per-week tables the stages write (one value
per model per evaluated week), so each product is read the same way:

- each model's and baseline's mean over the evaluated weeks with a 95% Student t
  interval across weeks (none under 2 weeks);
- the **strongest baseline**: the best baseline by mean on the evaluated weeks
  (the hardest bar; the stages themselves choose what to serve on the validation
  weeks, never on these);
- the best model against it: the mean paired difference per week with its 95%
  interval, and the weeks the model is better;
- the verdict: ``model better`` when the interval of the difference is above 0,
  ``baseline better`` when below, ``no signal`` when it holds 0 (or under 2 weeks).

A product whose table is missing (the run stopped before it) is ``not run``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..playlists.metrics import mean_ci as t_mean_ci

DIGITS = 4


@dataclass(frozen=True)
class Spec:
    """Where one product's per-week figure is, and which names are baselines."""

    product: str
    metric: str  # what the figure is, for people ("NDCG@10")
    table: str  # the per-week CSV in the run
    baselines: tuple[str, ...]  # names that are baselines (the rest are models)
    higher_is_better: bool = True
    column: str = "{model}"  # wide tables: the column of a model; long: the value column
    long: bool = False  # long tables: one row per (week, name) in column ``name_column``
    name_column: str = "model"
    filters: tuple[tuple[str, str], ...] = ()  # long tables: keep rows with these values
    exclude: tuple[str, ...] = ()  # names left out of the table
    oracles: tuple[str, ...] = ()  # names shown as the ceiling, never compared
    chance: float | None = None  # the figure of a random guess (ROC AUC 0.5)


SPECS: tuple[Spec, ...] = (
    Spec(
        "playlists",
        "NDCG@10 within genres",
        "reports/evaluate/offline_by_week.csv",
        ("baseline",),
        column="{model}_ndcg_at_k",
    ),
    Spec(
        "playlist set reach",
        "set reach / exclusive oracle's",
        "reports/evaluate/playlist_sets_by_week.csv",
        ("baseline",),
        column="{model}_reach_share",
        oracles=("oracle",),
    ),
    Spec(
        "playlist capture@10",
        "per-playlist capture@10",
        "reports/evaluate/playlist_sets_by_week.csv",
        ("baseline",),
        column="{model}_capture_at_10",
        oracles=("oracle",),
    ),
    Spec(
        "skips",
        "ROC AUC",
        "reports/skips/by_week.csv",
        ("genre_rule", "previous_outcome", "listener_rate"),
        column="{model}_roc_auc",
        chance=0.5,
    ),
    Spec(
        "cache",
        "weekly cost of fetch-ahead decisions",
        "reports/cache/by_week.csv",
        ("always", "never", "genre_rule", "listener_rate", "previous_outcome"),
        higher_is_better=False,
        column="cost",
        long=True,
        name_column="policy",
        oracles=("oracle", "bayes"),
    ),
    Spec(
        "recs",
        "NDCG@20",
        "reports/recs/by_week.csv",
        ("popularity_all", "popularity", "popularity_genres", "own_most_played"),
        column="ndcg_at_20",
        long=True,
        filters=(("exclude_seen", "False"),),
        oracles=("oracle",),
    ),
)


def weekly_values(frame: pd.DataFrame, spec: Spec) -> pd.DataFrame:
    """``week_start`` x name table of the figure (one column per model or baseline)."""
    if spec.long:
        f = frame
        for col, value in spec.filters:
            if col in f.columns:
                f = f[f[col].astype(str) == value]
        wide = f.pivot_table(index="week_start", columns=spec.name_column, values=spec.column)
        wide.columns = [str(c) for c in wide.columns]
        return wide.drop(columns=[c for c in spec.exclude if c in wide.columns])
    prefix, suffix = spec.column.split("{model}")
    cols = {
        c[len(prefix) : len(c) - len(suffix) if suffix else None]: c
        for c in frame.columns
        if c.startswith(prefix) and c.endswith(suffix) and c != "week_start"
    }
    cols = {k: v for k, v in cols.items() if k and k not in spec.exclude}
    return frame.set_index("week_start")[list(cols.values())].rename(
        columns={v: k for k, v in cols.items()}
    )


def mean_ci(values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """Mean and 95% Student t interval across weeks
    (:func:`pozytywka.playlists.metrics.mean_ci` over the finite values); ``None``
    where undefined: no value, or no interval under 2 weeks."""
    v = np.asarray(values, dtype="float64")
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None, None
    if len(v) < 2:
        return float(v.mean()), None, None
    return t_mean_ci(v)


def _r(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), DIGITS)


def compare(wide: pd.DataFrame, spec: Spec) -> dict:
    """The comparison of one product on one dump (see the module docstring)."""
    sign = 1.0 if spec.higher_is_better else -1.0
    rows = []
    for name in sorted(wide.columns):
        mean, lo, hi = mean_ci(wide[name].to_numpy())
        kind = "baseline" if name in spec.baselines else "model"
        kind = "oracle" if name in spec.oracles else kind
        rows.append(
            {"name": name, "kind": kind, "mean": _r(mean), "ci_low": _r(lo), "ci_high": _r(hi)}
        )
    scored = [r for r in rows if r["mean"] is not None]
    bases = [r for r in scored if r["kind"] == "baseline"]
    models = [r for r in scored if r["kind"] == "model"]
    out: dict = {"metric": spec.metric, "weeks": int(len(wide)), "rows": rows}
    if not bases or not models:
        out["verdict"] = "not comparable"
        return out
    best_base = max(bases, key=lambda r: (sign * r["mean"], r["name"]))
    best_model = max(models, key=lambda r: (sign * r["mean"], r["name"]))
    diff = (wide[best_model["name"]] - wide[best_base["name"]]).to_numpy(dtype="float64")
    d, lo, hi = mean_ci(diff)
    gain_lo, gain_hi = (
        (lo, hi) if sign > 0 else (None if hi is None else -hi, None if lo is None else -lo)
    )
    better = int(np.sum(sign * diff > 0))
    verdict = "no signal"
    if gain_lo is not None and gain_lo > 0:
        verdict = "model better"
    elif gain_hi is not None and gain_hi < 0:
        verdict = "baseline better"
    out |= {
        "weeks": int(np.isfinite(diff).sum()),  # weeks where both are defined
        "higher_is_better": spec.higher_is_better,
        "best_baseline": best_base["name"],
        "best_model": best_model["name"],
        "diff": _r(d),
        "diff_ci_low": _r(lo),
        "diff_ci_high": _r(hi),
        "weeks_model_better": better,
        "verdict": verdict,
    }
    lo_m, hi_m = best_model["ci_low"], best_model["ci_high"]
    if spec.chance is not None and lo_m is not None and lo_m <= spec.chance <= hi_m:
        out["verdict"] = "no signal"
        out["at_chance"] = True
    return out


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def collect_run(repo: Path, result: dict, specs: tuple[Spec, ...] = SPECS) -> dict:
    """One dump's row: how the run went, the data's size, each product's comparison."""
    quality = _json(repo / "metrics/data_quality.json") or {}
    window = quality.get("window") or {}
    sessions = quality.get("sessions") or {}
    row = {
        "dump": result["dump"],
        "rc": result["rc"],
        "seconds": result["seconds"],
        "peak_gib": result["peak_gib"],
        "error": result.get("error") or None,
        "complete_weeks": window.get("complete_weeks"),
        "events": sessions.get("rows_kept", sessions.get("kept")),
        "products": {},
    }
    for spec in specs:
        table = repo / spec.table
        if not table.exists():
            row["products"][spec.product] = {"metric": spec.metric, "verdict": "not run"}
            continue
        frame = pd.read_csv(table)
        row["products"][spec.product] = compare(weekly_values(frame, spec), spec)
    row["server_cache"] = server_cache(_json(repo / "metrics/cache.json"))
    return row


#: The server cache's sizes shown (shares of the catalogue's bytes).
SERVER_SIZES = ("0.01", "0.05", "0.2")


def server_cache(cache: dict | None) -> dict | None:
    """The server-side cache replay of ``metrics/cache.json``: byte hit ratio per policy
    at :data:`SERVER_SIZES`, the recommended policy and the skip-awareness sentences."""
    server = (cache or {}).get("server")
    if not isinstance(server, dict):
        return None
    policies = {
        name: {size: v.get(f"byte_hit_ratio_at_{size}") for size in SERVER_SIZES}
        for name, v in sorted(server.items())
        if isinstance(v, dict) and any(str(k).startswith("byte_hit_ratio_at_") for k in v)
    }
    return {
        "byte_hit_ratio": policies,
        "recommended": server.get("recommended"),
        "skip_awareness": server.get("skip_awareness") or [],
    }


def scoreboard_document(runs: list[dict]) -> dict:
    """The scoreboard: one entry per dump run, in the order given."""
    return {"dumps": runs, "interval": "95% Student t across evaluated weeks"}
