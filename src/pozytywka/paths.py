"""Where every stage reads and writes: the same names dvc.yaml declares.

Paths are relative to the project root (the folder holding dvc.yaml), which is
the working directory of every DVC stage; the ``pozytywka`` console script
moves there first from any folder inside the project (:func:`find_root`).
"""

from pathlib import Path

DVC_YAML = Path("dvc.yaml")
PARAMS = Path("params.yaml")


def find_root(start: Path) -> Path | None:
    """The project root for a command started in folder ``start``, or None outside any project.

    The nearest folder at or above ``start`` holding ``dvc.yaml``, found by
    walking up as ``dvc`` finds its repository. A folder holding a
    ``params.yaml`` but no ``dvc.yaml`` is a project of its own (how the
    benchmark runs stages in its scale folders), never a subfolder of the one
    above it: the stage runs there, not on the enclosing project's data.
    """
    start = start.absolute()
    if (start / PARAMS).is_file() and not (start / DVC_YAML).is_file():
        return start
    for folder in (start, *start.parents):
        if (folder / DVC_YAML).is_file():
            return folder
    return None


RAW_SYNTHETIC = Path("data/raw/synthetic")

INTERIM = Path("data/interim")
INTERIM_ARTISTS = INTERIM / "artists.parquet"
INTERIM_TRACKS = INTERIM / "tracks.parquet"
INTERIM_TRACK_GENRES = INTERIM / "track_genres.parquet"
INTERIM_USERS = INTERIM / "users.parquet"
INTERIM_SESSIONS = INTERIM / "sessions.parquet"
INTERIM_STORAGE = INTERIM / "track_storage.parquet"

PROCESSED = Path("data/processed")
WEEKLY_POPULARITY = PROCESSED / "weekly_popularity.parquet"
WEEKLY_LISTENERS = PROCESSED / "weekly_listeners.parquet"
FEATURES = PROCESSED / "features.parquet"
BACKTEST_PREDICTIONS = PROCESSED / "backtest_predictions.parquet"

MODELS = Path("models")
BASELINE_MODEL = MODELS / "baseline.json"
CATBOOST_MODEL = MODELS / "catboost.cbm"
CATBOOST_META = MODELS / "catboost.json"

METRICS = Path("metrics")
DATA_QUALITY = METRICS / "data_quality.json"
TRAIN_METRICS = METRICS / "train.json"
OFFLINE_METRICS = METRICS / "offline.json"
PLAYLIST_SETS_METRICS = METRICS / "playlist_sets.json"
PLAYLIST_METRICS = METRICS / "playlists.json"
AB_METRICS = METRICS / "ab.json"

REPORTS = Path("reports")
DATA_QUALITY_REPORTS = REPORTS / "data_quality"
TRAIN_REPORTS = REPORTS / "train"
EVALUATE_REPORTS = REPORTS / "evaluate"
PLAYLIST_REPORTS = REPORTS / "playlists"
PLAYLISTS_JSON = PLAYLIST_REPORTS / "playlists.json"
PLAYLISTS_MD = PLAYLIST_REPORTS / "playlists.md"
PLAYLISTS_BY_MODEL = PLAYLIST_REPORTS / "by_model"
PLAYLISTS_SKIPPED = PLAYLIST_REPORTS / "skipped_genres.csv"
AB_REPORTS = REPORTS / "ab"
AB_OUTCOMES = AB_REPORTS / "outcomes.csv"
AB_SUMMARY = AB_REPORTS / "summary.md"
BENCH_REPORTS = REPORTS / "bench"

# skip prediction for caching (the skips_* stages)
SKIPS_PROCESSED = PROCESSED / "skips"
SKIPS_TABLE = SKIPS_PROCESSED / "plays.parquet"
SKIPS_HISTORY = SKIPS_PROCESSED / "history"
SKIPS_PREDICTIONS = SKIPS_PROCESSED / "predictions.parquet"
SKIPS_MODELS = MODELS / "skips"
SKIPS_CATBOOST = SKIPS_MODELS / "catboost.cbm"
SKIPS_BASELINES = SKIPS_MODELS / "baselines.json"
SKIPS_META = SKIPS_MODELS / "meta.json"
SKIPS_METRICS = METRICS / "skips.json"
CACHE_METRICS = METRICS / "cache.json"
SKIPS_REPORTS = REPORTS / "skips"
CACHE_REPORTS = REPORTS / "cache"


# personal recommendations (issue 15)
RECS_INTERACTIONS = PROCESSED / "recs_interactions.parquet"
RECS_MODELS = MODELS / "recs"
RECS_TUNED = RECS_MODELS / "tuned.json"
RECS_RANKER = RECS_MODELS / "ranker.cbm"  # the re-ranker for the week after the data
RECS_METRICS = METRICS / "recs.json"
RECS_REPORTS = REPORTS / "recs"
SERVING = Path("data/serving")
RECS_PUBLISHED = SERVING / "recs.parquet"
RECS_FALLBACK = SERVING / "recs_fallback.parquet"


# Weekly retraining (issue 11): what `pozytywka retrain` copies from the base revision
# (committed inputs of the `hindsight` stage), and what the stages write.
RETRAIN_INPUTS = Path("retrain")
RETRAIN_PREVIOUS = RETRAIN_INPUTS / "previous.json"
RETRAIN_HISTORY = RETRAIN_INPUTS / "history.csv"
HINDSIGHT_METRICS = METRICS / "hindsight.json"
HINDSIGHT_REPORTS = REPORTS / "hindsight"
HINDSIGHT_HISTORY = HINDSIGHT_REPORTS / "history.csv"
DRIFT_METRICS = METRICS / "drift.json"
DRIFT_REPORTS = REPORTS / "drift"
