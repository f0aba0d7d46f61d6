"""Stage ``playlists``: next week's playlists from both models; one is published.

Reads the prediction-week rows of ``features.parquet`` (the last complete
week, whose target is unknown), scores them with each model through
``pozytywka.playlists.models.scoring.score_week``, and builds the playlists with
:func:`pozytywka.playlists.build_playlist_set`. Writes, under
``reports/playlists/``: ``by_model/{baseline,catboost}.json`` (the A/B arms),
``playlists.json`` and ``playlists.md`` (the model in ``playlists.model``),
``skipped_genres.csv`` (every genre either model skipped, and why; the log names
a few per model, with counts by reason) and ``metrics/playlists.json``.
"""

from __future__ import annotations

import logging

import pandas as pd

from .. import paths
from ..config import Params
from ..errors import PozytywkaError
from ..io import write_csv, write_json, write_text
from ..playlists.publish import (
    build_playlist_set,
    playlist_document,
    playlist_metrics,
    playlists_markdown,
)
from ..report.compare import skipped_summary
from ..weeks import target_week

log = logging.getLogger(__name__)

MODELS = ("baseline", "catboost")
#: Every genre skipped by either model, with its reason (logs and the summary name a few).
SKIPPED_CSV = paths.PLAYLISTS_SKIPPED
SKIPPED_COLUMNS = ["model", "genre", "predicted_popularity", "eligible_tracks", "reason"]


def skipped_table(skipped: list[dict]) -> pd.DataFrame:
    """``skipped_genres.csv``: one row per (model, skipped genre), in skip order."""
    frame = pd.DataFrame(skipped)
    for column in SKIPPED_COLUMNS:
        if column not in frame:
            frame[column] = pd.Series(dtype="object")
    return frame[SKIPPED_COLUMNS]


def _read(path) -> pd.DataFrame:
    if not path.exists():
        raise PozytywkaError(f"{path} not found: run the earlier stages first (dvc repro)")
    return pd.read_parquet(path)


def tracks_with_artist_names(tracks: pd.DataFrame, artists: pd.DataFrame) -> pd.DataFrame:
    """Tracks plus an ``artist`` column (the artist's name, else its id) for display."""
    names = artists[["artist_id", "name"]].rename(columns={"name": "artist"})
    out = tracks.merge(names, on="artist_id", how="left")
    out["artist"] = out["artist"].where(out["artist"].notna(), out["artist_id"])
    return out


def run(params: Params) -> None:
    from ..playlists.models.scoring import score_week

    features = _read(paths.FEATURES)
    week_rows = features[features["is_prediction_week"].astype(bool)]
    if week_rows.empty:
        raise PozytywkaError(f"{paths.FEATURES} has no prediction-week rows to score")
    week = target_week(pd.Timestamp(week_rows["week_start"].max()))
    tracks = tracks_with_artist_names(_read(paths.INTERIM_TRACKS), _read(paths.INTERIM_ARTISTS))
    track_genres = _read(paths.INTERIM_TRACK_GENRES)

    documents = {}
    all_skipped: list[dict] = []
    for model in MODELS:
        scores = score_week(model, week_rows, paths.MODELS)
        if scores is None or len(scores) == 0:
            raise PozytywkaError(f"model {model!r} scored no tracks for the prediction week")
        playlists, skipped = build_playlist_set(scores, tracks, track_genres, params.playlists)
        documents[model] = playlist_document(week, model, playlists, skipped)
        log.info(
            "%s: %d playlists (%s), %d genres skipped",
            model,
            len(playlists),
            ", ".join(p["genre"] for p in playlists),
            len(skipped),
        )
        if skipped:
            pairs = [(s["genre"], s["reason"]) for s in skipped]
            log.warning("%s: %s", model, skipped_summary(pairs, where=str(SKIPPED_CSV)))
        all_skipped += [{"model": model, **s} for s in skipped]
        write_json(paths.PLAYLISTS_BY_MODEL / f"{model}.json", documents[model])

    published = documents[params.playlists.model]
    if not published["playlists"]:
        # Not an error: the report says so, and later stages still run (a tiny or
        # sparse dump may simply have too few artists per genre this week).
        log.warning(
            "no genre could fill playlists.min_size (%d) tracks: nothing to publish",
            params.playlists.min_size,
        )
    write_csv(SKIPPED_CSV, skipped_table(all_skipped))
    write_json(paths.PLAYLISTS_JSON, published)
    write_text(paths.PLAYLISTS_MD, playlists_markdown(published))
    write_json(paths.PLAYLIST_METRICS, playlist_metrics(documents, params.playlists.model))
    log.info(
        "published %s playlists for the week of %s", params.playlists.model, published["week_start"]
    )
