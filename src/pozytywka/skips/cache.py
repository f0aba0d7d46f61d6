"""What skip predictions are worth in a cache (issue 14, item 6; DESIGN §10).

**Client-side decision, per play.** Fetch the whole track ahead (cache it) or
stream it as it plays. Track bytes = ``duration_ms`` x ``bitrate_kbps``. The skip
point is the log's own (seconds from the play to its skip, as a share of the
track) and ``skip_point`` when the log has no usable one (a skip at the play's
instant or after the track's end). Costs, in one currency unit:

- every byte delivered costs ``transfer_per_gb``: a fetched track delivers all its
  bytes, a streamed one only the bytes played;
- a fetched track that is skipped **wastes** the bytes after the skip point;
- a full play that was streamed is a **slow delivery**, priced by the track's
  storage (``track_storage``): ``slow_fee_<storage_class>`` plus
  ``daily_cost_share`` x its ``daily_cost`` (a track with no storage row is
  priced as "slow" at the median daily cost).

The **oracle** fetches exactly the full plays: it delivers only played bytes and
has no slow delivery, so its cost is the floor. "Always fetch" pays all the
waste; the share of the oracle's saving a policy captures is
``(cost(always) - cost(policy)) / (cost(always) - cost(oracle))``. A model's policy
streams when its skip probability is at least a threshold, chosen on the
validation weeks to minimise cost (the same rule for every model).

**Server-side view.** A cache of limited size in front of slow storage sees the plays in
time order (a request per play, of the whole track as the object, and the bytes played
as the bytes read). Eviction by LRU or LFU (perfect LFU: counts since the start, ties by
recency), LRU with a **skip-aware admission** (a missed track is admitted only when the
play is predicted full by the cache's skip model at its cache threshold), **skip-aware
LFU** (a request counts as the share of the track it is expected to read: ``1 - p + p *
skip_point`` for skip probability ``p``, so a play predicted to be skipped is a fraction
of an access) and Belady's rule (evict the object requested furthest in the future; with
bypass, and with objects of different sizes it is the classic bound, not an exact
optimum). Hit ratio = hits / requests; byte hit ratio = bytes read from the cache /
bytes read. The simulators are a few lines each over a Python dict (requests are a
sequence: inherently a loop), kept here rather than adding a cache-simulation package
because the admission rule needs the model's prediction per request.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

from ..config import CacheParams
from ..playlists.metrics import mean_ci

GB = 1e9
POLICY_ORDER = ("never", "always", "oracle")
SERVER_POLICIES = ("lru", "lfu", "skip_aware_lru", "skip_aware_lfu", "belady")
#: The plain policy each skip-aware one is a variant of.
SKIP_AWARE = {"skip_aware_lru": "lru", "skip_aware_lfu": "lfu"}
#: Policies a server can run (Belady needs the future: the bound, never recommended).
REALISABLE = tuple(p for p in SERVER_POLICIES if p != "belady")
#: Byte hit ratios closer than this are "level" in the notes.
LEVEL = 0.001
#: A skip model whose validation ROC AUC is below this is at chance for the notes.
CHANCE_AUC = 0.55


def play_costs(
    plays: pd.DataFrame, tracks: pd.DataFrame, storage: pd.DataFrame, params: CacheParams
):
    """Per play: the costs of fetching and of streaming, and what each delivers.

    ``plays``: ``play_id``, ``track_id``, ``skipped``, ``skip_after_s`` (and anything
    else, kept). ``tracks``: ``track_id``, ``duration_ms``; ``storage``: ``track_id``,
    ``storage_class``, ``daily_cost``. Adds ``size_bytes``, ``played_bytes``,
    ``wasted_if_fetched`` (bytes), ``slow_if_streamed`` (0/1), ``fetch_cost``,
    ``stream_cost``. Plays of tracks with no duration are dropped (no size).
    """
    dur = tracks.drop_duplicates("track_id").set_index("track_id")["duration_ms"].astype(float)
    out = plays.copy()
    out["duration_s"] = out["track_id"].map(dur).to_numpy() / 1000.0
    out = out[out["duration_s"] > 0].copy()
    out["size_bytes"] = out["duration_s"] * params.bitrate_kbps * 1000.0 / 8.0
    share = out["skip_after_s"].to_numpy(dtype=float) / out["duration_s"].to_numpy()
    share = np.where((share > 0) & (share < 1), share, params.skip_point)
    skipped = out["skipped"].to_numpy(dtype=bool)
    out["played_bytes"] = out["size_bytes"] * np.where(skipped, share, 1.0)
    out["wasted_if_fetched"] = out["size_bytes"] - out["played_bytes"]
    out["slow_if_streamed"] = (~skipped).astype("int64")

    st = storage.drop_duplicates("track_id").set_index("track_id")
    fees = {
        "slow": params.slow_fee_slow,
        "medium": params.slow_fee_medium,
        "fast": params.slow_fee_fast,
    }
    cls = out["track_id"].map(st["storage_class"]).fillna("slow")
    median_daily = float(st["daily_cost"].median()) if len(st) else 0.0
    daily = out["track_id"].map(st["daily_cost"]).fillna(median_daily).astype(float)
    slow_cost = (
        cls.map(fees).fillna(params.slow_fee_slow).astype(float) + params.daily_cost_share * daily
    )
    out["fetch_cost"] = out["size_bytes"] / GB * params.transfer_per_gb
    out["stream_cost"] = (
        out["played_bytes"] / GB * params.transfer_per_gb + out["slow_if_streamed"] * slow_cost
    )
    return out.reset_index(drop=True)


def policy_totals(costs: pd.DataFrame, fetch: np.ndarray) -> dict[str, float]:
    """Cost, bytes delivered, wasted bytes, slow deliveries of a fetch/stream decision per play."""
    fetch = np.asarray(fetch, dtype=bool)
    return {
        "plays": int(len(costs)),
        "cost": float(np.where(fetch, costs["fetch_cost"], costs["stream_cost"]).sum()),
        "delivered_bytes": float(np.where(fetch, costs["size_bytes"], costs["played_bytes"]).sum()),
        "wasted_bytes": float(costs["wasted_if_fetched"].to_numpy()[fetch].sum()),
        "slow_deliveries": int(costs["slow_if_streamed"].to_numpy()[~fetch].sum()),
    }


def cost_curve(costs: pd.DataFrame, p: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Total cost of "stream when p >= t" for each threshold t (vectorised over sorted p)."""
    p = np.asarray(p, dtype=float)
    order = np.argsort(p, kind="stable")
    fc = np.concatenate([[0.0], np.cumsum(costs["fetch_cost"].to_numpy()[order])])
    sc = np.concatenate([[0.0], np.cumsum(costs["stream_cost"].to_numpy()[order][::-1])])[::-1]
    n_fetch = np.searchsorted(p[order], thresholds, side="left")
    return fc[n_fetch] + sc[n_fetch]


def best_cost_threshold(costs: pd.DataFrame, p: np.ndarray, grid: np.ndarray) -> float:
    """The threshold of least total cost on these plays (ties: the lowest)."""
    candidates = np.unique(np.concatenate([grid, np.unique(np.asarray(p, dtype=float))]))
    if len(candidates) > 2000:
        candidates = np.unique(np.concatenate([grid, np.quantile(p, np.linspace(0, 1, 1001))]))
    curve = cost_curve(costs, p, candidates)
    return float(candidates[int(np.argmin(curve))])


def simulate_policies(
    predictions: pd.DataFrame,
    costs_of,
    models: tuple[str, ...],
    grid: np.ndarray,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per evaluated week and policy: totals (:func:`policy_totals`) and the threshold.

    ``predictions``: the backtest's (``eval_week``, ``role``, ``play_id``, ``p_<model>``);
    ``costs_of``: a function from prediction rows to :func:`play_costs` rows (same order).
    The threshold of each model is chosen on the week's validation rows. Returns
    (weekly: ``week_start``, ``policy``, ``threshold`` and the totals; curve rows of
    ``threshold``, ``model``, ``cost`` summed over the evaluated weeks).
    """
    rows, curves = [], []
    for week, group in predictions.groupby("eval_week", sort=True):
        ev = costs_of(group[group["role"] == "eval"])
        va = costs_of(group[group["role"] == "valid"])
        skipped = ev["skipped"].to_numpy(dtype=bool)
        decisions = {
            "never": (np.zeros(len(ev), bool), np.nan),
            "always": (np.ones(len(ev), bool), np.nan),
            "oracle": (~skipped, np.nan),
        }
        for model in models:
            thr = best_cost_threshold(va, va[f"p_{model}"].to_numpy(), grid)
            decisions[model] = (ev[f"p_{model}"].to_numpy() < thr, thr)
            curves.append(
                pd.DataFrame(
                    {
                        "threshold": grid,
                        "model": model,
                        "cost": cost_curve(ev, ev[f"p_{model}"].to_numpy(), grid),
                    }
                )
            )
        for policy, (fetch, thr) in decisions.items():
            rows.append(
                {"week_start": week, "policy": policy, "threshold": thr, **policy_totals(ev, fetch)}
            )
    weekly = pd.DataFrame(rows)
    base = weekly.pivot(index="week_start", columns="policy", values="cost")
    saving = (base["always"] - base["oracle"]).rename("oracle_saving")
    weekly = weekly.merge(saving, left_on="week_start", right_index=True)
    weekly = weekly.merge(
        base["always"].rename("always_cost"), left_on="week_start", right_index=True
    )
    weekly["share_of_oracle_saving"] = np.where(
        weekly["oracle_saving"] > 0,
        (weekly["always_cost"] - weekly["cost"]) / weekly["oracle_saving"],
        0.0,
    )
    weekly = weekly.drop(columns=["oracle_saving", "always_cost"])
    curve = pd.concat(curves).groupby(["model", "threshold"], sort=True)["cost"].sum().reset_index()
    return weekly, curve


def _r(x: float, nd: int = 6) -> float:
    return round(float(x), nd)


def summarise_policies(weekly: pd.DataFrame) -> dict:
    """Per policy: totals over the evaluated weeks and the share of the oracle's saving
    (mean across weeks with its 95% interval), the mean chosen threshold for models.

    Both intervals are Student-t (``mean_ci``): costs are unbounded, and so is the
    share (a policy worse than "always" has a negative share: "never" is about
    -165% on the default data), so the logit interval of bounded metrics does not apply.
    """
    out = {}
    for policy, group in weekly.groupby("policy", sort=False):
        section = {
            "cost": _r(group["cost"].sum()),
            "cost_per_1000_plays": _r(1000 * group["cost"].sum() / group["plays"].sum()),
            "wasted_bytes": int(round(group["wasted_bytes"].sum())),
            "delivered_bytes": int(round(group["delivered_bytes"].sum())),
            "slow_deliveries": int(group["slow_deliveries"].sum()),
        }
        for key in ("cost", "share_of_oracle_saving"):
            mean, low, high = mean_ci(group[key].to_numpy())
            name = "weekly_cost" if key == "cost" else key
            section[name] = _r(mean)
            section[f"{name}_ci_low"] = _r(low)
            section[f"{name}_ci_high"] = _r(high)
        if group["threshold"].notna().any():
            section["threshold"] = _r(group["threshold"].mean(), 4)
        out[policy] = section
    return out


# ---------------------------------------------------------------- server-side view


def next_use(keys: np.ndarray) -> np.ndarray:
    """For each request, the index of the next request of the same key (len(keys) if none)."""
    keys = pd.Series(keys)
    idx = pd.Series(np.arange(len(keys)))
    nxt = idx.groupby(keys.to_numpy(), sort=False).shift(-1)
    return nxt.fillna(len(keys)).to_numpy(dtype=np.int64)


def simulate_cache(
    keys: np.ndarray,
    sizes: np.ndarray,
    read_bytes: np.ndarray,
    capacity: float,
    policy: str,
    admit: np.ndarray | None = None,
    weights: np.ndarray | None = None,
) -> dict[str, float]:
    """Replay requests through a cache of ``capacity`` bytes; hits and bytes read from it.

    ``keys``/``sizes`` (object bytes)/``read_bytes`` per request, in time order.
    ``policy``: "lru", "lfu", "belady", "skip_aware_lru" (LRU that admits a missed
    object only where ``admit`` is true) or "skip_aware_lfu" (LFU whose request ``i``
    adds ``weights[i]`` to its object's count instead of 1). An object larger than the
    cache is never admitted. Returns ``requests``, ``hits``, ``hit_ratio``,
    ``byte_hit_ratio``.
    """
    n = len(keys)
    keys = list(keys)
    sizes = np.asarray(sizes, dtype=float)
    read = np.asarray(read_bytes, dtype=float)
    hits = 0
    hit_bytes = 0.0
    used = 0.0
    if policy in ("lru", "skip_aware_lru"):
        gated = policy == "skip_aware_lru"
        if gated and admit is None:
            raise ValueError("skip_aware_lru needs an admission per request")
        cache: OrderedDict = OrderedDict()
        for i in range(n):
            k = keys[i]
            if k in cache:
                cache.move_to_end(k)
                hits += 1
                hit_bytes += read[i]
                continue
            if sizes[i] > capacity or (gated and not admit[i]):
                continue
            while used + sizes[i] > capacity:
                _, s = cache.popitem(last=False)
                used -= s
            cache[k] = sizes[i]
            used += sizes[i]
    elif policy in ("lfu", "skip_aware_lfu"):
        if policy == "skip_aware_lfu" and weights is None:
            raise ValueError("skip_aware_lfu needs a weight per request")
        step = np.ones(n) if policy == "lfu" else np.asarray(weights, dtype=float)
        counts: dict = {}
        stamp: dict = {}
        held: dict = {}
        heap: list = []
        for i in range(n):
            k = keys[i]
            counts[k] = counts.get(k, 0) + step[i]
            stamp[k] = i
            if k in held:
                hits += 1
                hit_bytes += read[i]
                heapq.heappush(heap, (counts[k], i, k))
                continue
            if sizes[i] > capacity:
                continue
            while used + sizes[i] > capacity:
                c, t, victim = heapq.heappop(heap)
                if victim in held and counts[victim] == c and stamp[victim] == t:
                    used -= held.pop(victim)
            held[k] = sizes[i]
            used += sizes[i]
            heapq.heappush(heap, (counts[k], i, k))
    elif policy == "belady":
        nxt = next_use(np.asarray(keys, dtype=object))
        held = {}
        when: dict = {}
        heap = []
        for i in range(n):
            k = keys[i]
            if k in held:
                hits += 1
                hit_bytes += read[i]
                when[k] = nxt[i]
                heapq.heappush(heap, (-nxt[i], k))
                continue
            if sizes[i] > capacity or nxt[i] >= n:
                continue  # never requested again: bypass
            while used + sizes[i] > capacity:
                neg, victim = heap[0]
                if victim not in held or when[victim] != -neg:
                    heapq.heappop(heap)
                    continue
                if -neg <= nxt[i]:
                    break  # everything held is needed sooner: bypass the new object
                heapq.heappop(heap)
                used -= held.pop(victim)
            if used + sizes[i] > capacity:
                continue
            held[k] = sizes[i]
            when[k] = nxt[i]
            used += sizes[i]
            heapq.heappush(heap, (-nxt[i], k))
    else:
        raise ValueError(f"unknown cache policy {policy!r}")
    total = float(read.sum())
    return {
        "requests": n,
        "hits": hits,
        "hit_ratio": hits / n if n else 0.0,
        "byte_hit_ratio": hit_bytes / total if total > 0 else 0.0,
    }


def lfu_weights(p_skip: np.ndarray, skip_point: float) -> np.ndarray:
    """Skip-aware LFU's count per request: the expected share of the track read,
    ``(1 - p) + p * skip_point`` (a full play reads it all, a skip ``skip_point`` of it)."""
    p = np.clip(np.asarray(p_skip, dtype=float), 0.0, 1.0)
    return (1.0 - p) + p * float(skip_point)


def server_view(
    requests: pd.DataFrame,
    catalogue_bytes: float,
    shares: list[float],
    admit: np.ndarray,
    weights: np.ndarray,
) -> pd.DataFrame:
    """Hit and byte hit ratios per policy and cache size (shares of ``catalogue_bytes``).

    ``requests``: ``track_id``, ``size_bytes``, ``played_bytes`` in time order;
    ``admit``: the skip-aware LRU's admission per request; ``weights``: the skip-aware
    LFU's count per request (:func:`lfu_weights`). Columns ``cache_share``, ``cache_gb``,
    ``policy``, ``requests``, ``hits``, ``hit_ratio``, ``byte_hit_ratio``, ``origin_gb``
    (bytes read from slow storage: the misses' bytes, in GB).
    """
    rows = []
    keys = requests["track_id"].to_numpy()
    read = requests["played_bytes"].to_numpy(dtype=float)
    for share in shares:
        capacity = share * catalogue_bytes
        for policy in SERVER_POLICIES:
            res = simulate_cache(
                keys,
                requests["size_bytes"].to_numpy(),
                read,
                capacity,
                policy,
                admit if policy == "skip_aware_lru" else None,
                weights if policy == "skip_aware_lfu" else None,
            )
            origin = (1.0 - res["byte_hit_ratio"]) * float(read.sum()) / GB
            rows.append(
                {
                    "cache_share": share,
                    "cache_gb": capacity / GB,
                    "policy": policy,
                    **res,
                    "origin_gb": origin,
                }
            )
    return pd.DataFrame(rows)


def recommend_server_policy(valid_view: pd.DataFrame) -> dict:
    """The server policy to run, chosen on the validation replay (never the replayed weeks).

    ``valid_view``: :func:`server_view` of the validation weeks. Per cache size, the
    :data:`REALISABLE` policy of highest byte hit ratio (ties: the order of
    :data:`SERVER_POLICIES`); overall, the one of highest mean byte hit ratio over the
    sizes. Returns ``{"policy": name, "by_size": {share: name}}``.
    """
    real = valid_view[valid_view["policy"].isin(REALISABLE)].copy()
    real["rank"] = real["policy"].map({p: i for i, p in enumerate(SERVER_POLICIES)})
    by_size = {}
    for share, group in real.groupby("cache_share", sort=True):
        best = group.sort_values(["byte_hit_ratio", "rank"], ascending=[False, True]).iloc[0]
        by_size[f"{share:g}"] = str(best["policy"])
    mean = real.groupby("policy")["byte_hit_ratio"].mean().reset_index()
    mean["rank"] = mean["policy"].map({p: i for i, p in enumerate(SERVER_POLICIES)})
    overall = mean.sort_values(["byte_hit_ratio", "rank"], ascending=[False, True])
    return {"policy": str(overall.iloc[0]["policy"]), "by_size": by_size}


def _shares_text(subset: list[float], sizes: list[float]) -> str:
    """The sizes of ``subset`` in words: "5-20%" when they are consecutive ones of ``sizes``
    (sorted), else listed ("1%, 20%")."""
    sizes = sorted(sizes)
    idx = sorted(sizes.index(s) for s in subset)
    pct = [f"{100 * sizes[i]:g}" for i in idx]
    if len(idx) == 1:
        return f"{pct[0]}%"
    if idx == list(range(idx[0], idx[-1] + 1)):
        return f"{pct[0]}-{pct[-1]}%"
    return ", ".join(f"{x}%" for x in pct)


def skip_awareness_notes(view: pd.DataFrame) -> list[str]:
    """One plain sentence per skip-aware policy: does it pay against its plain policy?

    ``view``: :func:`server_view` of the replayed weeks. For each of :data:`SKIP_AWARE`,
    the sizes where its byte hit ratio is below, level with (|diff| < :data:`LEVEL`) or above
    the plain policy's, with the values at the sizes where it is below, e.g.
    "skip-aware LRU is below plain LRU at 5-20% of the catalogue (byte hit ratio 0.226
    vs 0.240 at 5%, ...)".
    """
    names = {"lru": "LRU", "lfu": "LFU"}
    out = []
    for aware, plain in SKIP_AWARE.items():
        a = view[view["policy"] == aware].set_index("cache_share")["byte_hit_ratio"]
        b = view[view["policy"] == plain].set_index("cache_share")["byte_hit_ratio"]
        diff = (a - b).sort_index()
        sizes = list(diff.index)
        label = f"skip-aware {names[plain]}"
        below = [s for s, d in diff.items() if d <= -LEVEL]
        above = [s for s, d in diff.items() if d >= LEVEL]
        parts = []
        if below:
            vals = ", ".join(f"{a[s]:.3f} vs {b[s]:.3f} at {100 * s:g}%" for s in below)
            parts.append(
                f"{label} is below plain {names[plain]} at {_shares_text(below, sizes)} of the "
                f"catalogue (byte hit ratio {vals}): skip-awareness does not pay there"
            )
        if above:
            vals = ", ".join(f"{a[s]:.3f} vs {b[s]:.3f} at {100 * s:g}%" for s in above)
            parts.append(
                f"{label} is above plain {names[plain]} at {_shares_text(above, sizes)} "
                f"(byte hit ratio {vals})"
            )
        if not below and not above:
            parts.append(f"{label} is level with plain {names[plain]} at every size")
        out.extend(parts)
    return out


def server_split(eval_weeks: list, server_weeks: int) -> tuple[list, list]:
    """(validation weeks, replayed weeks) of the server-side view, from the evaluated weeks.

    The replayed weeks are the last ``server_weeks``; the validation weeks the (up to)
    ``server_weeks`` evaluated weeks just before them, each predicted out of sample by
    its own backtest model. Empty validation when every evaluated week is replayed
    (the stage then uses the first replayed week's validation rows and says so).
    """
    weeks = sorted(eval_weeks)
    replay = weeks[-server_weeks:]
    before = weeks[: len(weeks) - len(replay)]
    return before[-server_weeks:], replay


def chance_note(name: str, rows: pd.DataFrame) -> str | None:
    """A sentence when skip model ``name`` is at chance on ``rows`` (ROC AUC below
    :data:`CHANCE_AUC`, or undefined): then a skip-aware policy's difference from its plain
    policy comes from the admission or count rule, not from predicting skips."""
    y = rows["skipped"].to_numpy()
    auc = float(roc_auc_score(y, rows[f"p_{name}"].to_numpy())) if len(np.unique(y)) == 2 else None
    if auc is not None and auc >= CHANCE_AUC:
        return None
    shown = "undefined" if auc is None else f"{auc:.3f}"
    return (
        f"the skip model ({name}) is at chance on the validation weeks (ROC AUC {shown}): "
        "a skip-aware policy's difference from its plain one is its admission or count rule "
        "acting on noise, not skip prediction"
    )


def choose_skip_model(rows: pd.DataFrame, models: tuple[str, ...]) -> tuple[str, dict]:
    """The skip model the skip-aware policies use: the lowest log loss on ``rows``
    (validation plays: ``skipped``, ``p_<model>``); ties: the order of ``models``.
    Returns (name, {model: log loss rounded to 6}); with no rows the last model."""
    y = rows["skipped"].to_numpy(dtype=float)
    if len(y) == 0:
        return models[-1], {}
    losses = {}
    for m in models:
        p = np.clip(rows[f"p_{m}"].to_numpy(dtype=float), 1e-6, 1 - 1e-6)
        losses[m] = round(float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))), 6)
    best = min(models, key=lambda m: (losses[m], models.index(m)))
    return best, losses
