"""Where every stage reads and writes: the same names dvc.yaml declares.

Paths are relative to the project root (the folder holding dvc.yaml), which is
the working directory of every DVC stage.
"""

from pathlib import Path

PARAMS = Path("params.yaml")

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
AB_REPORTS = REPORTS / "ab"
AB_OUTCOMES = AB_REPORTS / "outcomes.csv"
AB_SUMMARY = AB_REPORTS / "summary.md"
BENCH_REPORTS = REPORTS / "bench"

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
