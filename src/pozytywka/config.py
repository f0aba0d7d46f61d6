"""The one params loader: ``params.yaml`` into typed, validated dataclasses.

Each stage reads only its own sections (and dvc.yaml declares exactly those),
so a bad value in one section stops only the stages that use it. A bad value
raises :class:`ParamError` with one line naming the param and what is allowed.

YAML is read as DVC reads it (:func:`read_yaml`): ruamel.yaml's safe loader,
YAML 1.2, so a value means here what ``dvc params diff`` and ``dvc exp run -S``
say it means. Numbers: ``1e-5``, ``1E5``, ``8e-2``, ``1e-05`` (what
``dvc exp run -S x=1e-5`` writes), ``+1e5``, ``.5``, ``1.``, ``1_000`` and
``0x1A`` are numbers; ``1,000``, ``5e``, ``1:30`` (a YAML 1.1 sexagesimal),
``yes``/``on`` (YAML 1.1 booleans) are strings to DVC and so to us too, and a
number param given a string is an error naming it. ``.inf`` and ``.nan`` are
numbers to YAML but never valid params. A whole number written as a float
(``iterations: 1e3``) is accepted where an integer is expected.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from .errors import ParamError
from .paths import PARAMS


def _range(
    lo: float | None = None,
    hi: float | None = None,
    choices: tuple | None = None,
    grid: bool = False,
):
    """Field metadata: allowed range or choices, checked by :func:`_build`.

    ``grid``: a list of values to tune over (each checked against the range); a
    single value is accepted as a list of one.
    """
    return {"lo": lo, "hi": hi, "choices": choices, "grid": grid}


def _f(default: Any, **allowed: Any) -> Any:
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=_range(**allowed))
    return field(default=default, metadata=_range(**allowed))


@dataclass(frozen=True)
class SyntheticParams:
    """Scale, seed and dirt of the synthetic Pozytywka service (the `generate` stage)."""

    seed: int = _f(42, lo=0)
    users: int = _f(11000, lo=10)
    artists: int = _f(1000, lo=5)
    tracks_per_artist: float = _f(8.0, lo=1)
    genres: int = _f(24, lo=3, hi=1000)
    weeks: int = _f(30, lo=6, hi=520)
    start_date: str = _f("2024-01-01")  # a Monday: week 0 starts there
    sessions_per_user_week: float = _f(0.045, lo=0.01)
    events_per_session: float = _f(12.0, lo=1)
    signup_rate: float = _f(0.002, lo=0, hi=0.1)  # new users a week, as a share of `users`
    dirt: str = _f("standard", choices=("none", "standard", "heavy"))


@dataclass(frozen=True)
class DataParams:
    source: str = _f("data/raw/synthetic")
    # a complete week with fewer events than this share of the median week is a gap (gaps.py)
    gap_min_share: float = _f(0.1, lo=0.0, hi=1.0)
    synthetic: SyntheticParams = field(default_factory=SyntheticParams)


@dataclass(frozen=True)
class FeaturesParams:
    history_weeks: int = _f(4, lo=1, hi=52)
    min_plays: int = _f(1, lo=0)


@dataclass(frozen=True)
class SplitParams:
    """Time split: the last labelled weeks before each predicted week validate."""

    valid_weeks: int = _f(1, lo=1, hi=12)
    min_train_weeks: int = _f(4, lo=1, hi=260)
    # CatBoost trains on the most recent weeks up to this many (track, week) rows
    # (never fewer than min_train_weeks); 0 = every earlier week
    max_train_rows: int = _f(400_000, lo=0)


@dataclass(frozen=True)
class BaselineParams:
    window_weeks: int = _f(1, lo=1, hi=12)


@dataclass(frozen=True)
class CatBoostParams:
    loss_function: str = _f(
        "Poisson",  # measured best of RMSE/Poisson/YetiRank: see models/catboost_model.py
        choices=(
            "RMSE",
            "Poisson",
            "Tweedie:variance_power=1.5",
            "YetiRank",
            "YetiRank:permutations=1",
            "QueryRMSE",
            "PairLogit",
        ),
    )
    iterations: int = _f(400, lo=1, hi=20000)
    depth: int = _f(6, lo=1, hi=16)
    learning_rate: float = _f(0.08, lo=1e-4, hi=1.0)
    l2_leaf_reg: float = _f(3.0, lo=0)
    early_stopping_rounds: int = _f(50, lo=1)
    thread_count: int = _f(2, lo=1, hi=64)
    random_seed: int = _f(42, lo=0)


@dataclass(frozen=True)
class PlaylistParams:
    n_genres: int = _f(5, lo=1, hi=100)
    min_size: int = _f(10, lo=10, hi=20)
    max_size: int = _f(20, lo=10, hi=20)
    max_per_artist: int = _f(2, lo=1, hi=20)
    # auto: the model with the better backtest NDCG (metrics/offline.json); ties -> baseline
    model: str = _f("auto", choices=("auto", "catboost", "baseline"))
    # tracks two of the week's playlists may share (0: a track is in at most one playlist)
    max_shared_tracks: int = _f(0, lo=0, hi=20)
    # a genre is a near-copy (passed over) when this share of its own best playlist is
    # already published by the chosen genres (0.5: half of it or more)
    near_copy_share: float = _f(0.5, lo=0.05, hi=1.0)

    def __post_init__(self) -> None:
        if self.min_size > self.max_size:
            raise ParamError(
                f"playlists.min_size ({self.min_size}) must not exceed "
                f"playlists.max_size ({self.max_size})"
            )


@dataclass(frozen=True)
class EvaluateParams:
    k: int = _f(10, lo=1, hi=100)
    eval_weeks: int = _f(6, lo=1, hi=104)
    n_genres: int = _f(10, lo=1, hi=1000)


@dataclass(frozen=True)
class ABSequentialParams:
    """The always-valid read-out (``pozytywka.experiment.sequential``) and its horizon."""

    # N*: listeners with plays (both arms) where the confidence sequence is tightest;
    # set before the experiment to those expected by the planned horizon (GrowthBook's
    # default is 5000)
    tuning_n: float = _f(10000.0, lo=1.0)
    planned_days: int = _f(7, lo=1, hi=365)  # the fixed-horizon read-out's day
    max_days: int = _f(28, lo=1, hi=365)  # the stage stops here without a decision

    def __post_init__(self) -> None:
        if self.planned_days > self.max_days:
            raise ParamError(
                f"ab.sequential.planned_days ({self.planned_days}) must not exceed "
                f"ab.sequential.max_days ({self.max_days})"
            )


@dataclass(frozen=True)
class ABGuardrailParams:
    """Non-inferiority margins (relative; B may be at most this much worse than A)."""

    skip_rate: float = _f(0.05, lo=0.0, hi=1.0)  # skips / plays
    # p95 of the server-side answer latency of the arm's requests (the live read-out only:
    # the ab_test stage simulates no latency); B's p95 at most this much above A's
    latency_p95: float = _f(0.10, lo=0.0, hi=10.0)


@dataclass(frozen=True)
class ABPeekingParams:
    """The A/A peeking simulation (``ab_peeking`` stage): its size and planted effect."""

    runs: int = _f(12, lo=1, hi=1000)  # independent simulations of the whole horizon
    splits: int = _f(25, lo=1, hi=1000)  # random splits of each run's listeners
    dilution: float = _f(0.3, lo=0.0, hi=1.0)  # planted effect: B served to this share of B
    looks_per_day: int = _f(24, lo=1, hi=288)  # the service's read-out: a look per batch


@dataclass(frozen=True)
class ABParams:
    salt: str = _f("pozytywka-ab-v1")
    split: float = _f(0.5, lo=0.01, hi=0.99)
    alpha: float = _f(0.05, lo=1e-6, hi=0.5)
    power: float = _f(0.8, lo=0.05, hi=0.999)
    seed: int = _f(7, lo=0)
    # Global holdout (issue 23, docs/assignment.md): this share of listeners gets the
    # baseline in every experiment key; hashed with its own salt, apart from the arms.
    holdout: float = _f(0.05, lo=0.0, hi=0.5)
    holdout_salt: str = _f("pozytywka-holdout-v1")
    bucket_version: int = _f(1, lo=1, hi=1000)  # bump to re-randomise everyone
    # secondary metrics corrected together: holm (family-wise) or bh (false discovery rate)
    correction: str = _f("holm", choices=("holm", "bh"))
    sequential: ABSequentialParams = field(default_factory=ABSequentialParams)
    guardrails: ABGuardrailParams = field(default_factory=ABGuardrailParams)
    peeking: ABPeekingParams = field(default_factory=ABPeekingParams)


# -- personal recommendations (issue 15, DESIGN §11) --------------------------------
# Lists are search grids: each model is tuned over at most ``recs.tune.budget`` of its
# combinations on the validation weeks before the evaluated ones; one value = no search.


@dataclass(frozen=True)
class RecsWeightParams:
    """Interaction weight per event of a (listener, track): a skip is negative evidence."""

    full_play: float = _f(1.0, lo=0)
    like: float = _f(2.0, lo=0)
    skip: float = _f(-0.5, hi=0)
    half_life_weeks: float = _f(0.0, lo=0)  # recency decay of older weeks; 0 = none


@dataclass(frozen=True)
class RecsPopularityParams:
    window_weeks: list[int] = _f([1, 2], lo=1, hi=52, grid=True)


@dataclass(frozen=True)
class RecsKnnParams:
    neighbours: list[int] = _f([50, 200], lo=1, hi=100000, grid=True)
    # the most-played tracks the neighbourhoods are built on: O(max_items^2) time
    max_items: int = _f(4000, lo=1, hi=100000)


@dataclass(frozen=True)
class RecsEaseParams:
    l2: list[float] = _f([100.0, 500.0], lo=1e-6, grid=True)
    # the most-played tracks EASE is built on: O(max_items^3) time, O(max_items^2) memory
    max_items: int = _f(4000, lo=1, hi=100000)


@dataclass(frozen=True)
class RecsAlsParams:
    factors: list[int] = _f([64], lo=1, hi=2048, grid=True)
    regularization: list[float] = _f([0.1], lo=0, grid=True)
    alpha: list[float] = _f([1.0, 10.0], lo=1e-6, grid=True)
    iterations: int = _f(10, lo=1, hi=500)


@dataclass(frozen=True)
class RecsSvdParams:
    factors: list[int] = _f([32, 64], lo=1, hi=2048, grid=True)


@dataclass(frozen=True)
class RecsRerankParams:
    """The two-stage model: candidates from one model, re-ranked by a CatBoost ranker."""

    candidate_model: str = _f("auto", choices=("auto", "itemknn", "ease", "als", "svd"))
    candidates: int = _f(50, lo=2, hi=2000)
    train_weeks: int = _f(1, lo=1, hi=12)  # weeks before the scored one the ranker learns on
    max_train_listeners: int = _f(500, lo=10)  # seeded sample of training queries (cost)
    loss_function: str = _f(
        "YetiRank:permutations=1",
        choices=("YetiRank", "YetiRank:permutations=1", "PairLogit", "YetiRankPairwise"),
    )
    iterations: int = _f(100, lo=1, hi=5000)
    depth: int = _f(3, lo=1, hi=10)
    learning_rate: float = _f(0.1, lo=1e-4, hi=1.0)
    thread_count: int = _f(2, lo=1, hi=64)
    random_seed: int = _f(42, lo=0)


@dataclass(frozen=True)
class RecsParams:
    k: int = _f(20, lo=1, hi=500)  # tracks published per listener
    exclude_seen: bool = _f(False)  # may tracks the listener already played be recommended?
    eval_weeks: int = _f(4, lo=1, hi=104)
    valid_weeks: int = _f(1, lo=1, hi=52)  # tuning weeks, just before the evaluated ones
    min_train_weeks: int = _f(4, lo=1, hi=260)
    tune_budget: int = _f(2, lo=1, hi=100)  # configurations tried per model
    seed: int = _f(42, lo=0)
    weights: RecsWeightParams = field(default_factory=RecsWeightParams)
    popularity: RecsPopularityParams = field(default_factory=RecsPopularityParams)
    itemknn: RecsKnnParams = field(default_factory=RecsKnnParams)
    ease: RecsEaseParams = field(default_factory=RecsEaseParams)
    als: RecsAlsParams = field(default_factory=RecsAlsParams)
    svd: RecsSvdParams = field(default_factory=RecsSvdParams)
    rerank: RecsRerankParams = field(default_factory=RecsRerankParams)


@dataclass(frozen=True)
class SkipsCatBoostParams:
    """The skip classifier (Logloss), early-stopped on the validation week."""

    iterations: int = _f(300, lo=1, hi=20000)
    depth: int = _f(6, lo=1, hi=16)
    learning_rate: float = _f(0.2, lo=1e-4, hi=1.0)
    l2_leaf_reg: float = _f(3.0, lo=0)
    border_count: int = _f(32, lo=1, hi=65535)
    early_stopping_rounds: int = _f(20, lo=1)
    thread_count: int = _f(2, lo=1, hi=64)  # fixed: predictions change with the thread count
    random_seed: int = _f(42, lo=0)
    # boost from the listener's own skip rate (the strongest rule; "" = from the average):
    # the trees learn corrections to it, early-stopped where validation stops gaining
    start_from: str = _f("user_skip_rate", choices=("", "user_skip_rate"))


@dataclass(frozen=True)
class CacheParams:
    """Costs of the cache simulation (DESIGN §10); money in one currency unit."""

    bitrate_kbps: float = _f(160.0, lo=1)  # track bytes = duration x bitrate
    skip_point: float = _f(
        0.3, lo=0.0, hi=1.0
    )  # share played before a skip the log has no position for
    transfer_per_gb: float = _f(
        0.08, lo=0
    )  # price of each GB delivered (fetched whole or streamed)
    slow_fee_slow: float = _f(0.0003, lo=0)  # per slow delivery of a track in "slow" storage
    slow_fee_medium: float = _f(0.00015, lo=0)
    slow_fee_fast: float = _f(0.00005, lo=0)
    daily_cost_share: float = _f(
        0.001, lo=0
    )  # + this share of the track's daily_cost per slow delivery
    server_weeks: int = _f(
        2, lo=1, hi=52
    )  # last evaluation weeks replayed through the server cache
    server_sizes: list[float] = _f(
        [0.01, 0.02, 0.05, 0.1, 0.2], lo=0
    )  # shares of the catalogue's bytes


@dataclass(frozen=True)
class SkipsParams:
    """Skip prediction for caching: features, split, model, cache costs (the ``skips_*`` stages)."""

    prior_plays: float = _f(20.0, lo=0)  # pseudo-plays shrinking skip rates towards their prior
    train_weeks: int = _f(2, lo=1, hi=104)  # weeks of plays a model is trained on
    valid_weeks: int = _f(
        1, lo=1, hi=12
    )  # the weeks just before, for early stopping and thresholds
    eval_weeks: int = _f(
        6, lo=1, hi=104
    )  # the last complete weeks, each predicted from earlier ones
    max_train_rows: int = _f(
        200_000, lo=0, hi=100_000_000
    )  # CatBoost fits on at most this many training plays (seeded sample; 0 = all)
    catboost: SkipsCatBoostParams = field(default_factory=SkipsCatBoostParams)
    cache: CacheParams = field(default_factory=CacheParams)


@dataclass(frozen=True)
class DriftParams:
    """What the retraining report flags as moved (pozytywka.retrain.drift)."""

    lookback_weeks: int = _f(4, lo=1, hi=52)  # the newest week vs this many weeks before it
    tolerance: float = _f(0.1, lo=0, hi=10)  # relative margin beyond the previous weeks' range
    share_tolerance: float = _f(0.02, lo=0, hi=1)  # absolute margin for a genre's share of plays
    top_genres: int = _f(8, lo=1, hi=1000)  # genre shares shown (flagged ones always are)


@dataclass(frozen=True)
class SparkParams:
    """Where ``engine: spark`` runs (:mod:`pozytywka.engine`).

    ``master``: ``local[*]`` (every core of this machine), ``local[N]``, or a
    cluster URL (``spark://host:7077``, ``yarn``, ``k8s://...``); ``driver_host`` the
    address the cluster's executors reach this process at. Results do not
    depend on it nor on ``shuffle_partitions`` (integer aggregates, sorted
    outputs); the partitions only size the shuffles (the default 200 is for
    terabytes: a handful suits one machine, a few per executor core a cluster).
    """

    master: str = _f("local[*]")
    shuffle_partitions: int = _f(4, lo=1, hi=100_000)
    # the address executors reach this process (the driver) at: loopback for local
    # mode and a cluster on this machine; the machine's address for a remote cluster
    driver_host: str = _f("127.0.0.1")


@dataclass(frozen=True)
class Params:
    # the engine every stage that reads events runs its SQL on (pozytywka.engine)
    engine: str = _f("duckdb", choices=("duckdb", "spark"))
    spark: SparkParams = field(default_factory=SparkParams)
    data: DataParams = field(default_factory=DataParams)
    features: FeaturesParams = field(default_factory=FeaturesParams)
    split: SplitParams = field(default_factory=SplitParams)
    baseline: BaselineParams = field(default_factory=BaselineParams)
    catboost: CatBoostParams = field(default_factory=CatBoostParams)
    playlists: PlaylistParams = field(default_factory=PlaylistParams)
    evaluate: EvaluateParams = field(default_factory=EvaluateParams)
    ab: ABParams = field(default_factory=ABParams)
    skips: SkipsParams = field(default_factory=SkipsParams)

    recs: RecsParams = field(default_factory=RecsParams)
    drift: DriftParams = field(default_factory=DriftParams)


def _describe(meta: dict, kind: type) -> str:
    if meta.get("choices"):
        return "one of " + ", ".join(repr(c) for c in meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    name = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, kind.__name__
    )
    if lo is not None and hi is not None:
        return f"{name} in {lo}..{hi}"
    if lo is not None:
        return f"{name} >= {lo}"
    if hi is not None:
        return f"{name} <= {hi}"
    return name


def _coerce(value: Any, kind: Any, meta: dict, where: str) -> Any:
    origin = typing.get_origin(kind)
    if origin in (list, tuple):
        if not isinstance(value, list):
            if not meta.get("grid"):
                raise ParamError(f"{where} must be a list, got {value!r}")
            # A search grid: one value is a grid of one (`dvc exp run -S recs.als.factors=128`).
            value = [value]
        if meta.get("grid") and not value:
            raise ParamError(f"{where} must hold at least one value")
        (inner,) = typing.get_args(kind)[:1]
        return [_coerce(v, inner, meta, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is types.UnionType:
        kind = next(a for a in typing.get_args(kind) if a is not type(None))
    if isinstance(value, float) and not math.isfinite(value):
        raise ParamError(f"{where} must be {_describe(meta, kind)}, got {value!r}")
    if kind is int and isinstance(value, float) and value.is_integer():
        value = int(value)  # 1e3 is 1000.0 in YAML: a whole number
    ok = (
        (kind is bool and isinstance(value, bool))
        or (kind is int and isinstance(value, int) and not isinstance(value, bool))
        or (kind is float and isinstance(value, (int, float)) and not isinstance(value, bool))
        or (kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool))
    )
    if not ok:
        raise ParamError(f"{where} must be {_describe(meta, kind)}, got {value!r}")
    value = kind(value)
    if meta.get("choices") and value not in meta["choices"]:
        raise ParamError(f"{where} must be {_describe(meta, kind)}, got {value!r}")
    lo, hi = meta.get("lo"), meta.get("hi")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ParamError(f"{where} must be {_describe(meta, kind)}, got {value!r}")
    return value


def _build(cls: type, raw: Any, where: str) -> Any:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamError(f"{where} must be a mapping of keys, got {raw!r}")
    hints = get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        raise ParamError(
            f"{where}.{unknown[0]} is not a known param (known: {', '.join(sorted(fields))})"
        )
    kwargs = {}
    for name, f in fields.items():
        if name not in raw:
            continue
        kind = hints[name]
        if dataclasses.is_dataclass(kind):
            kwargs[name] = _build(kind, raw[name], f"{where}.{name}")
        else:
            kwargs[name] = _coerce(raw[name], kind, dict(f.metadata), f"{where}.{name}")
    return cls(**kwargs)


def params_from_dict(raw: dict) -> Params:
    """Validate a params mapping (as read from YAML) into :class:`Params`."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamError("params.yaml must be a mapping of sections")
    hints = get_type_hints(Params)
    unknown = sorted(set(raw) - set(hints))
    if unknown:
        raise ParamError(
            f"params.yaml: unknown section {unknown[0]!r} (known: {', '.join(sorted(hints))})"
        )
    fields = {f.name: f for f in dataclasses.fields(Params)}
    sections = {
        name: _build(hints[name], raw[name], name)
        if dataclasses.is_dataclass(hints[name])
        else _coerce(raw[name], hints[name], dict(fields[name].metadata), name)
        for name in hints
        if name in raw
    }
    return Params(**sections)


def parse_yaml(text: str, source: str | os.PathLike[str]) -> Any:
    """The data in YAML ``text`` (from ``source``, for messages), read exactly as DVC reads it.

    DVC loads ``params.yaml`` and ``dvc.lock`` with ruamel.yaml's safe loader,
    YAML 1.2 (``dvc.utils.serialize.parse_yaml``); the same loader is what keeps
    a value like ``1e-5`` a number here (PyYAML, a YAML 1.1 loader, reads it as
    the string ``'1e-5'``). Raises :class:`ParamError` (one line, with the line
    and column) when the text is not valid YAML.
    """
    try:
        return YAML(typ="safe").load(text)
    except YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).strip().splitlines()[0]
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        raise ParamError(f"{source} is not valid YAML: {problem}{where}") from None


def read_yaml(path: str | os.PathLike[str]) -> Any:
    """:func:`parse_yaml` of the file ``path``; a missing file is a :class:`ParamError`."""
    path = Path(path)
    if not path.exists():
        raise ParamError(f"{path} not found: run from the project root (where dvc.yaml is)")
    return parse_yaml(path.read_text(encoding="utf-8"), path)


def load_params(path: str | os.PathLike[str] = PARAMS) -> Params:
    """Read and validate params.yaml (YAML 1.2, as DVC reads it: :func:`read_yaml`)."""
    return params_from_dict(read_yaml(path))


def as_dict(params: Any) -> dict:
    """Params back to plain data (for logging and model metadata)."""
    return dataclasses.asdict(params)
