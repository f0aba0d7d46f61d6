"""Evaluation by time (issue 14, item 5): rolling weeks, never random rows.

Each of the last ``eval_weeks`` complete weeks ``w`` is predicted by models fitted
only on earlier plays: CatBoost is trained on the ``train_weeks`` weeks before
the ``valid_weeks`` weeks that precede ``w``, and early-stopped on those
validation weeks; the rule baselines are fitted on the same training weeks.
Only plays whose outcome was known before Monday of ``w`` are used to fit
(``known_at``), the same cut the history features use.

Per week and model: ROC AUC, PR AUC (average precision), log loss, Brier score
and accuracy at the threshold that maximised accuracy on the validation weeks
(scikit-learn's metrics). Weeks are the independent replications: the headline is
the mean with a 95% interval across weeks. ROC AUC, PR AUC, Brier score and
accuracy live in [0, 1]: their interval is the logit-t interval of
:func:`pozytywka.playlists.metrics.bounded_mean_ci` (as the playlist backtest's;
it cannot leave the range; ``None`` with fewer than 2 weeks); log loss is
unbounded and keeps the plain Student-t :func:`~pozytywka.playlists.metrics.mean_ci`.

**Session accuracies** (:func:`session_accuracies`), after the Spotify Sequential Skip
Prediction Challenge (Brost, Mehrotra and Jehan, 2019, "The Music Streaming Sessions
Dataset", WWW '19): each session's plays of the evaluated week in time order are cut
in two halves, the first ``floor(n / 2)`` plays given and the other ``n - floor(n / 2)``
predicted (sessions of at least 2 plays); ``session_accuracy`` = mean over sessions of
the accuracy over the second half; ``first_play_accuracy`` = accuracy on the first play
of each second half; ``average_accuracy`` = the challenge's "AA", mean over sessions
of ``(1/T) sum_i A(i) L(i)`` (``L(i)`` = 1 when the i-th prediction of the second half
is right, ``A(i)`` the accuracy over its first i). A play is predicted when it starts,
as the product predicts it: its features know the outcomes of the session's earlier
plays, including earlier plays of the second half, which the challenge hides.

**Never a NaN.** A metric with no meaning on a week (ROC AUC and PR AUC on a week of
one outcome only; every metric on a week without plays) is NaN in the weekly table,
left out of the mean, and named with the reason in ``undefined`` of
``metrics/skips.json``; a metric defined on no week is ``null``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score
from tqdm import tqdm

from ..config import SkipsParams
from ..errors import PozytywkaError
from ..playlists.metrics import bounded_mean_ci, mean_ci
from .baselines import BASELINES, fit_baselines, predict_baseline
from .model import predict_skip, train_classifier

MODELS = (*BASELINES, "catboost")
BINARY_METRICS = ("roc_auc", "pr_auc", "log_loss", "brier", "accuracy")
SESSION_METRICS = ("session_accuracy", "first_play_accuracy", "average_accuracy")
METRICS = (*BINARY_METRICS, *SESSION_METRICS)
#: Lower is better for these; higher for the others.
LOWER_IS_BETTER = ("log_loss", "brier")
#: Metrics bounded to [0, 1]: their interval across weeks stays in the range.
BOUNDED_METRICS = ("roc_auc", "pr_auc", "brier", "accuracy", *SESSION_METRICS)
#: Why a metric can be NaN on a week (the key of ``undefined`` in ``metrics/skips.json``).
UNDEFINED_REASONS = {
    "no_plays": "no evaluated play",
    "one_outcome": "plays of one outcome only (ROC AUC and PR AUC need both)",
    "no_sessions": "no session with 2 or more plays (nothing to split in halves)",
}
THRESHOLD_GRID = np.round(np.linspace(0.0, 1.0, 201), 4)
_EPS = 1e-6


@dataclass(frozen=True)
class WeekSplit:
    """The weeks a model for ``week`` is trained and early-stopped on (all before ``week``)."""

    week: pd.Timestamp
    train: list[pd.Timestamp]
    valid: list[pd.Timestamp]


def week_splits(
    weeks: list[pd.Timestamp], n_eval: int, n_train: int, n_valid: int
) -> list[WeekSplit]:
    """Splits for each of the last ``n_eval`` of ``weeks`` (sorted, consecutive complete weeks).

    Raises :class:`PozytywkaError` naming the params when the data hold too few weeks.
    """
    weeks = sorted(pd.Timestamp(w) for w in weeks)
    need = n_eval + n_valid + n_train
    if len(weeks) < need:
        raise PozytywkaError(
            f"skips: {len(weeks)} complete weeks, need skips.eval_weeks ({n_eval}) + "
            f"skips.valid_weeks ({n_valid}) + skips.train_weeks ({n_train}) = {need}"
        )
    out = []
    for i in range(len(weeks) - n_eval, len(weeks)):
        valid = weeks[i - n_valid : i]
        train = weeks[i - n_valid - n_train : i - n_valid]
        out.append(WeekSplit(weeks[i], train, valid))
    return out


def fitting_rows(table: pd.DataFrame, weeks: list[pd.Timestamp], before: pd.Timestamp):
    """Rows of ``weeks`` whose outcome was known before ``before`` (the predicted week's Monday)."""
    mask = table["week_start"].isin(pd.DatetimeIndex(weeks)) & (table["known_at"] < before)
    return table[mask]


def predict_all(baselines: dict, model, frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Every model's skip probability for the rows of ``frame`` (``model`` None: CatBoost's
    column is :data:`FALLBACK`'s)."""
    out = {name: predict_baseline(baselines, name, frame) for name in BASELINES}
    out["catboost"] = out[FALLBACK].copy() if model is None else predict_skip(model, frame)
    return out


def sample_rows(train: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``train`` (0: all), a seeded uniform sample in the rows'
    own order: the same rows for the same data, seed and cap."""
    if max_rows <= 0 or len(train) <= max_rows:
        return train
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.choice(len(train), size=max_rows, replace=False))
    return train.iloc[keep]


def sample_listeners(train: pd.DataFrame, max_rows: int, seed: int) -> pd.DataFrame:
    """At most ``max_rows`` rows of ``train`` (0: all), whole listeners, in the rows' order.

    Listeners (``user_id``; plays without one form one group) are ranked by a
    seeded stable hash of their id and taken in that order while their plays fit
    in ``max_rows``: a listener's plays are all in or all out, so the listener
    features a play carries are learnt from every play of that listener, and the
    same listeners are drawn in every week and run (issue 24: what a cluster-size
    play table is cut to before CatBoost). When even the first listener's plays
    exceed the cap, that listener alone is kept (the fit needs rows).
    """
    if max_rows <= 0 or len(train) <= max_rows:
        return train
    ids = train["user_id"].astype(object).where(train["user_id"].notna(), "").astype(str)
    key = f"pozytywka{seed:07d}"[-16:]  # hash_pandas_object's key: 16 characters
    counts = ids.value_counts(sort=False)
    listeners = pd.DataFrame({"user_id": counts.index, "rows": counts.to_numpy()})
    listeners["hash"] = pd.util.hash_pandas_object(
        listeners["user_id"], index=False, hash_key=key
    ).to_numpy()
    listeners = listeners.sort_values(["hash", "user_id"], kind="stable")
    fits = listeners["rows"].cumsum().to_numpy() <= max_rows
    chosen = listeners["user_id"][fits] if fits.any() else listeners["user_id"].iloc[:1]
    return train[ids.isin(set(chosen)).to_numpy()]


def cannot_fit(train: pd.DataFrame, valid: pd.DataFrame) -> str | None:
    """Why CatBoost cannot be fitted on these rows (None: it can)."""
    if train.empty:
        return "no training play with a known outcome"
    if train["skipped"].nunique() < 2:
        return "training plays of one outcome only"
    if valid.empty:
        return "no validation play with a known outcome"
    return None


#: The baseline that stands in for CatBoost on a week it cannot be fitted for.
FALLBACK = "listener_rate"


def run_backtest(
    table: pd.DataFrame, params: SkipsParams, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Predictions for the evaluated weeks (and their validation weeks) and a fit log.

    ``table``: :func:`pozytywka.skips.features.build_features` output. CatBoost is
    fitted on at most ``params.max_train_rows`` of the training plays
    (:func:`sample_listeners`; the rules on all of them). On a week it cannot be fitted for
    (:func:`cannot_fit`) its column holds :data:`FALLBACK`'s probabilities and the log
    says why: the pipeline goes on. Returns (predictions: ``eval_week``, ``role``
    ("eval"/"valid"), ``play_id``, ``session_id``, ``ts``, ``week_start``, ``skipped``,
    ``p_<model>`` per :data:`MODELS`; fit log: ``week_start``, ``last_train_week``,
    ``last_valid_week``, ``best_iteration``, ``n_train_rows``, ``n_fit_rows``,
    ``not_fitted`` (reason or "")).
    """
    weeks = sorted(table["week_start"].unique())
    splits = week_splits(
        [pd.Timestamp(w) for w in weeks], params.eval_weeks, params.train_weeks, params.valid_weeks
    )
    parts, log = [], []
    for split in tqdm(splits, desc="skips backtest", unit="week", disable=not progress):
        train = fitting_rows(table, split.train, split.week)
        valid = fitting_rows(table, split.valid, split.week)
        reason = cannot_fit(train, valid)
        baselines = fit_baselines(train)
        fit = sample_listeners(train, params.max_train_rows, params.catboost.random_seed)
        model = None if reason else train_classifier(fit, valid, params.catboost)
        for role, rows in (("eval", table[table["week_start"] == split.week]), ("valid", valid)):
            probs = predict_all(baselines, model, rows)
            part = pd.DataFrame(
                {
                    "eval_week": split.week,
                    "role": role,
                    "play_id": rows["play_id"].to_numpy(),
                    "session_id": rows["session_id"].to_numpy(dtype=object),
                    "ts": rows["ts"].to_numpy(),
                    "week_start": rows["week_start"].to_numpy(),
                    "skipped": rows["skipped"].to_numpy(dtype="int8"),
                }
            )
            for name, p in probs.items():
                part[f"p_{name}"] = p
            parts.append(part)
        log.append(
            {
                "week_start": split.week,
                "last_train_week": max(split.train),
                "last_valid_week": max(split.valid),
                "best_iteration": int(model.get_best_iteration() or 0) if model else 0,
                "n_train_rows": len(train),
                "n_fit_rows": 0 if model is None else len(fit),
                "not_fitted": reason or "",
            }
        )
    predictions = pd.concat(parts, ignore_index=True)
    for col in ("eval_week", "week_start", "ts"):
        predictions[col] = predictions[col].astype("datetime64[us]")
    return predictions, pd.DataFrame(log)


def best_threshold(y: np.ndarray, p: np.ndarray) -> float:
    """The threshold (predict a skip when p >= it) of highest accuracy; ties: the lowest."""
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=float)
    grid = np.unique(np.concatenate([THRESHOLD_GRID, np.unique(p)]))
    if len(grid) > 1000:
        grid = np.unique(np.concatenate([THRESHOLD_GRID, np.quantile(p, np.linspace(0, 1, 801))]))
    order = np.argsort(p)
    sp, sy = p[order], y[order]
    # rows with p >= t are predicted skips: count them with a search over the sorted p
    below = np.searchsorted(sp, grid, side="left")
    skips_below = np.concatenate([[0], np.cumsum(sy)])[below]
    correct = (below - skips_below) + (sy.sum() - skips_below)
    return float(grid[int(np.argmax(correct))])


def binary_metrics(y: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float]:
    """The five metrics of one model on one week (``y`` 0/1, ``p`` skip probabilities).

    NaN where a metric has no meaning (:func:`week_undefined` says why): every metric
    on no plays, ROC AUC and PR AUC on plays of one outcome only.
    """
    y = np.asarray(y, dtype=int)
    p = np.clip(np.asarray(p, dtype=float), _EPS, 1 - _EPS)
    nan = float("nan")
    if len(y) == 0:
        return dict.fromkeys(BINARY_METRICS, nan)
    two = len(np.unique(y)) == 2
    return {
        "roc_auc": float(roc_auc_score(y, p)) if two else nan,
        "pr_auc": float(average_precision_score(y, p)) if two else nan,
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "accuracy": float(((p >= threshold).astype(int) == y).mean()),
    }


def session_halves(plays: pd.DataFrame) -> pd.DataFrame:
    """The predicted second half of each session (the challenge's split; module docstring).

    ``plays``: ``session_id``, ``ts``, ``play_id`` (any order; plays without a session
    are left out). Returns the rows of the second halves of sessions with >= 2 plays,
    in (session, time, play_id) order, with ``step`` = 1, 2, ... within the half
    (the original index is kept, to pick predictions).
    """
    rows = plays[plays["session_id"].notna()].sort_values(
        ["session_id", "ts", "play_id"], kind="stable"
    )
    if rows.empty:
        return rows.assign(step=pd.Series(dtype="int64"))
    by = rows.groupby("session_id", sort=False)
    position = by.cumcount()  # 0-based
    n = by["play_id"].transform("size")
    first_half = n // 2
    second = rows[(n >= 2) & (position >= first_half)].copy()
    second["step"] = (position - first_half + 1)[second.index].astype("int64")
    return second


def session_accuracies(halves: pd.DataFrame, correct: np.ndarray) -> dict[str, float]:
    """``session_accuracy``, ``first_play_accuracy`` and ``average_accuracy`` (AA).

    ``halves``: :func:`session_halves` rows; ``correct``: 1/0 per row (the prediction
    of that play was right), same order. Each is a mean over sessions (module
    docstring; Brost et al. 2019); NaN when there is no session.
    """
    if len(halves) == 0:
        return dict.fromkeys(SESSION_METRICS, float("nan"))
    frame = pd.DataFrame(
        {
            "session_id": halves["session_id"].to_numpy(),
            "step": halves["step"].to_numpy(),
            "ok": np.asarray(correct, dtype=float),
        }
    )
    by = frame.groupby("session_id", sort=False)
    running = by["ok"].cumsum() / frame["step"]  # A(i): accuracy over the first i
    frame["aa_term"] = running * frame["ok"]  # A(i) L(i)
    per = by.agg(acc=("ok", "mean"), aa=("aa_term", "mean"))
    first = frame.loc[frame["step"] == 1, "ok"]
    return {
        "session_accuracy": float(per["acc"].mean()),
        "first_play_accuracy": float(first.mean()),
        "average_accuracy": float(per["aa"].mean()),
    }


def week_undefined(y: np.ndarray, n_sessions: int) -> dict[str, str]:
    """Metric -> reason key of :data:`UNDEFINED_REASONS` for the metrics NaN on this week."""
    y = np.asarray(y)
    out: dict[str, str] = {}
    if len(y) == 0:
        out.update(dict.fromkeys(BINARY_METRICS, "no_plays"))
    elif len(np.unique(y)) < 2:
        out.update({"roc_auc": "one_outcome", "pr_auc": "one_outcome"})
    if n_sessions == 0:
        out.update(dict.fromkeys(SESSION_METRICS, "no_plays" if len(y) == 0 else "no_sessions"))
    return out


def weekly_metrics(predictions: pd.DataFrame) -> pd.DataFrame:
    """One row per evaluated week: ``n_plays``, ``skip_rate``, ``n_sessions`` (split in
    halves), ``undefined`` ("metric:reason;..." of the NaN metrics, "" when none), then
    ``<model>_<metric>`` and ``<model>_threshold`` (chosen on that week's validation rows;
    the accuracies use it)."""
    rows = []
    for week, group in predictions.groupby("eval_week", sort=True):
        ev = group[group["role"] == "eval"]
        va = group[group["role"] == "valid"]
        y = ev["skipped"].to_numpy()
        halves = session_halves(ev) if "session_id" in ev else ev.iloc[:0].assign(step=0)
        n_sessions = int(halves["session_id"].nunique()) if len(halves) else 0
        undefined = week_undefined(y, n_sessions)
        row: dict = {
            "week_start": week,
            "n_plays": len(ev),
            "skip_rate": float(y.mean()) if len(y) else float("nan"),
            "n_sessions": n_sessions,
            "undefined": ";".join(f"{k}:{v}" for k, v in sorted(undefined.items())),
        }
        for model in MODELS:
            thr = (
                best_threshold(va["skipped"].to_numpy(), va[f"p_{model}"].to_numpy())
                if len(va)
                else 0.5
            )
            p = ev[f"p_{model}"].to_numpy()
            row[f"{model}_threshold"] = thr
            row.update({f"{model}_{k}": v for k, v in binary_metrics(y, p, thr).items()})
            right = (ev[f"p_{model}"] >= thr).astype(int) == ev["skipped"]
            acc = session_accuracies(halves, right[halves.index].to_numpy())
            row.update({f"{model}_{k}": v for k, v in acc.items()})
        rows.append(row)
    return pd.DataFrame(rows)


def _r(x: float | None) -> float | None:
    """Rounded to 6 decimals; None for None, NaN or an infinity (JSON holds no NaN)."""
    if x is None or not np.isfinite(float(x)):
        return None
    return round(float(x), 6)


def metric_ci(metric: str, values: np.ndarray) -> tuple[float | None, float | None, float | None]:
    """Mean across the weeks where the metric is defined (NaN weeks left out) and its 95%
    interval: logit-t for :data:`BOUNDED_METRICS`
    (:func:`~pozytywka.playlists.metrics.bounded_mean_ci`), Student-t otherwise.
    ``(None, None, None)`` when no week defines it; a bounded metric's interval is None
    with fewer than 2 weeks."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return None, None, None
    if metric in BOUNDED_METRICS:
        return bounded_mean_ci(values)
    return mean_ci(values)


def undefined_notes(weekly: pd.DataFrame) -> dict[str, str]:
    """Metric -> one line: on which weeks it is undefined and why, and over how many weeks
    its mean is (from the weekly ``undefined`` column)."""
    bad: dict[str, list[str]] = {}
    for week, cell in zip(weekly["week_start"], weekly.get("undefined", ""), strict=True):
        for item in filter(None, str(cell or "").split(";")):
            metric, reason = item.split(":")
            bad.setdefault(metric, []).append(
                f"{pd.Timestamp(week).strftime('%Y-%m-%d')} ({UNDEFINED_REASONS[reason]})"
            )
    total = len(weekly)
    out = {}
    for metric, weeks in sorted(bad.items()):
        left = total - len(weeks)
        tail = (
            f"mean over the other {left} of {total} weeks" if left else "null: no week defines it"
        )
        out[metric] = f"undefined on {', '.join(weeks)}; {tail}"
    return out


def paired_difference(weekly: pd.DataFrame, metric: str, base: str) -> dict:
    """CatBoost minus ``base`` on ``metric`` per week (weeks where both are defined):
    mean, Student-t 95% interval, weeks CatBoost is better, weeks compared."""
    a = weekly[f"catboost_{metric}"].to_numpy(dtype=float)
    b = weekly[f"{base}_{metric}"].to_numpy(dtype=float)
    ok = np.isfinite(a) & np.isfinite(b)
    diff = a[ok] - b[ok]
    better = diff < 0 if metric in LOWER_IS_BETTER else diff > 0
    mean, low, high = mean_ci(diff) if len(diff) else (None, None, None)
    return {
        "diff": _r(mean),
        "diff_ci_low": _r(low),
        "diff_ci_high": _r(high),
        "weeks_better": int(better.sum()),
        "weeks_compared": int(ok.sum()),
    }


def strongest_baseline(summary: dict) -> str:
    """The baseline of highest mean ROC AUC (then lowest log loss; then name order):
    the rule CatBoost must beat."""

    def key(name: str):
        sec = summary[name]
        auc = sec.get("roc_auc")
        ll = sec.get("log_loss")
        return (-(auc if auc is not None else -1.0), ll if ll is not None else np.inf, name)

    return min(BASELINES, key=key)


def verdict(summary: dict, versus: dict) -> str:
    """One line: does CatBoost carry signal, and does it beat the strongest rule?

    "no signal": CatBoost's ROC AUC interval holds 0.5 (or it is defined on no week;
    "undecided" with fewer than 2 weeks, no interval);
    "no better than <rule>": its ROC AUC lead over the rule has an interval holding 0;
    else "signal": above chance and above the rule.
    """
    cat = summary["catboost"]
    auc, low, high = cat.get("roc_auc"), cat.get("roc_auc_ci_low"), cat.get("roc_auc_ci_high")
    base = summary["strongest_baseline"]
    d = versus[base]["roc_auc"]
    if auc is None:
        return "no signal: ROC AUC is defined on no evaluated week"
    interval = (
        f"[{low:.3f}, {high:.3f}]" if low is not None and high is not None else "(no interval)"
    )
    if low is None or high is None:
        return f"undecided: CatBoost ROC AUC {auc:.3f} over fewer than 2 weeks, no interval"
    if low <= 0.5 <= high:
        return f"no signal: CatBoost ROC AUC {auc:.3f} {interval} holds 0.5 (chance)"
    if d["diff_ci_low"] is None or d["diff_ci_low"] <= 0 or d["weeks_compared"] < 2:
        lead = (
            f"{d['diff']:+.3f} [{d['diff_ci_low']:+.3f}, {d['diff_ci_high']:+.3f}]"
            if d["diff"] is not None and d["diff_ci_low"] is not None
            else "undefined"
        )
        return (
            f"no better than {base}: ROC AUC {auc:.3f} {interval}, lead {lead}, "
            f"better in {d['weeks_better']} of {d['weeks_compared']} weeks"
        )
    return (
        f"signal: ROC AUC {auc:.3f} {interval}, {d['diff']:+.3f} "
        f"[{d['diff_ci_low']:+.3f}, {d['diff_ci_high']:+.3f}] over {base}, better in "
        f"{d['weeks_better']} of {d['weeks_compared']} weeks"
    )


def summarise(weekly: pd.DataFrame, fit_log: pd.DataFrame | None = None) -> dict:
    """``metrics/skips.json`` (DESIGN §6): per model each metric with ``_ci_low``/``_ci_high``
    (:func:`metric_ci`; ``None`` for a bounded metric over fewer than 2 weeks, and for a
    metric no week defines).

    Also ``weeks_evaluated``, ``plays_evaluated``, ``skip_rate``, ``sessions_evaluated``;
    ``undefined`` (:func:`undefined_notes`); per baseline ``catboost_better_weeks`` =
    weeks CatBoost beat it on ROC AUC *and* log loss; ``versus``: per baseline and metric
    the paired difference (:func:`paired_difference`); ``strongest_baseline`` and
    ``verdict`` (:func:`verdict`); with ``fit_log``, ``catboost_not_fitted``: the weeks
    CatBoost could not be fitted for (``FALLBACK`` stood in), with the reason.
    """
    n = int(weekly["n_plays"].sum()) if len(weekly) else 0
    rate = (weekly["skip_rate"].fillna(0) * weekly["n_plays"]).sum() / n if n else None
    out: dict = {
        "weeks_evaluated": len(weekly),
        "plays_evaluated": n,
        "skip_rate": _r(rate),
        "sessions_evaluated": int(weekly["n_sessions"].sum()) if "n_sessions" in weekly else 0,
        "undefined": undefined_notes(weekly) if "undefined" in weekly else {},
    }
    for model in MODELS:
        section = {"threshold": _r(weekly[f"{model}_threshold"].mean() if len(weekly) else None)}
        for metric in METRICS:
            mean, low, high = metric_ci(metric, weekly[f"{model}_{metric}"].to_numpy())
            section[metric] = _r(mean)
            section[f"{metric}_ci_low"] = _r(low)
            section[f"{metric}_ci_high"] = _r(high)
        out[model] = section
    better = {}
    for base in BASELINES:
        wins = (weekly["catboost_roc_auc"] > weekly[f"{base}_roc_auc"]) & (
            weekly["catboost_log_loss"] < weekly[f"{base}_log_loss"]
        )
        better[base] = int(wins.sum())
    out["catboost_better_weeks"] = better
    out["versus"] = {
        base: {metric: paired_difference(weekly, metric, base) for metric in METRICS}
        for base in BASELINES
    }
    out["strongest_baseline"] = strongest_baseline(out)
    out["verdict"] = verdict(out, out["versus"])
    if fit_log is not None and len(fit_log) and "not_fitted" in fit_log:
        out["catboost_not_fitted"] = {
            pd.Timestamp(r.week_start).strftime("%Y-%m-%d"): f"{r.not_fitted}: {FALLBACK} used"
            for r in fit_log.itertuples()
            if r.not_fitted
        }
    return out


def calibration_table(predictions: pd.DataFrame, bins: int = 10) -> pd.DataFrame:
    """Reliability per model over the evaluated rows: equal-width bins of predicted probability.

    Columns ``model``, ``bin``, ``predicted`` (mean p), ``observed`` (skip rate), ``plays``.
    """
    ev = predictions[predictions["role"] == "eval"]
    frames = []
    for model in MODELS:
        p = ev[f"p_{model}"].to_numpy()
        b = np.minimum((p * bins).astype(int), bins - 1)
        frame = (
            pd.DataFrame({"bin": b, "p": p, "y": ev["skipped"].to_numpy()})
            .groupby("bin")
            .agg(predicted=("p", "mean"), observed=("y", "mean"), plays=("y", "size"))
            .reset_index()
        )
        frame.insert(0, "model", model)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
