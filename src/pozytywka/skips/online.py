"""Score one live play: the skip probability and the caching decision (issue 14, item 7).

The service (``POST /v1/skips/predict``) holds one :class:`OnlineScorer`, built once
from what the pipeline published (:meth:`OnlineScorer.load`): the models of the
``skips_train`` stage (``models/skips/``), the history tables of ``skips_features``
(``data/processed/skips/history/``, cut to a snapshot at the serving week) and the
interim catalogue (tracks, track genres, users). It never trains.

Features are those of the offline table, computed for one play from lookups built
once at load (:class:`pozytywka.skips.features.PlayLookup`: the history snapshot
at the serving week, the catalogue and the profiles indexed by listener, track and
genre), and the earlier plays of the session judged by the full-play rule
(:func:`pozytywka.skips.target.session_outcomes`): a few hundred microseconds
instead of a DuckDB query per request. Tests check that plays scored online get
the features they have in the offline table (:func:`~pozytywka.skips.features.play_features`):
the first of a session, one after a skip, an unknown listener, every play of a week.

Arms of the live experiment: ``A`` = the genre rule baseline, ``B`` = CatBoost
(:data:`ARM_MODELS`). The decision is ``"stream"`` when P(skip) is at least the
model's caching threshold chosen on the validation week (``meta.json``), else
``"fetch"`` (fetch the whole track ahead).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from .. import paths
from ..errors import PozytywkaError
from ..io import read_json
from .baselines import predict_baseline
from .features import (
    FEATURE_COLUMNS,
    PlayLookup,
    catalogue_table,
    epoch_us,
    favourite_pairs,
    profile_table,
)
from .model import predict_skip
from .target import session_outcomes

ARM_MODELS = {"A": "genre_rule", "B": "catboost"}
HISTORY_TABLES = ("user", "track", "artist", "user_genre", "user_artist", "user_track", "overall")
#: Event types a session may hold (the dump's "advertisment" is read as "advertisement").
EVENT_TYPES = ("play", "skip", "like", "advertisement")


@dataclass(frozen=True)
class Prediction:
    """What the service answers: P(skip), the decision, and who decided."""

    probability: float
    decision: str  # "fetch" (whole track ahead) or "stream"
    model: str
    threshold: float


class OnlineScorer:
    """Skip probability and caching decision for one play, from published artifacts."""

    def __init__(
        self,
        model: Any,
        baselines: Mapping[str, Any],
        meta: Mapping[str, Any],
        history: Mapping[str, pd.DataFrame],
        tracks: pd.DataFrame,
        track_genres: pd.DataFrame,
        users: pd.DataFrame,
    ) -> None:
        self.model = model
        self.baselines = dict(baselines)
        self.meta = dict(meta)
        self.serve_week = pd.Timestamp(meta["serve_week"])
        catalogue = catalogue_table(tracks)
        self.known_tracks = set(catalogue["track_id"])
        self.prior_plays = float(meta["prior_plays"])
        self.lookup = PlayLookup(
            dict(history),
            self.serve_week,
            catalogue,
            profile_table(users, track_genres, tracks),
            favourite_pairs(users),
            track_genres[["track_id", "genre"]],
            self.prior_plays,
        )

    @classmethod
    def load(cls, root: str | os.PathLike[str] = ".") -> OnlineScorer:
        """Read the published artifacts under the project ``root`` (once, at start-up)."""
        from catboost import CatBoostClassifier

        root = Path(root)
        needed = [paths.SKIPS_CATBOOST, paths.SKIPS_BASELINES, paths.SKIPS_META] + [
            paths.SKIPS_HISTORY / f"{n}.parquet" for n in HISTORY_TABLES
        ]
        for path in needed:
            if not (root / path).exists():
                raise PozytywkaError(f"{root / path} not found: run `dvc repro skips_train` first")
        model = CatBoostClassifier()
        model.load_model(os.fspath(root / paths.SKIPS_CATBOOST), format="cbm")
        return cls(
            model,
            read_json(root / paths.SKIPS_BASELINES),
            read_json(root / paths.SKIPS_META),
            {
                n: pd.read_parquet(root / paths.SKIPS_HISTORY / f"{n}.parquet")
                for n in HISTORY_TABLES
            },
            pd.read_parquet(root / paths.INTERIM_TRACKS),
            pd.read_parquet(root / paths.INTERIM_TRACK_GENRES),
            pd.read_parquet(root / paths.INTERIM_USERS),
        )

    def knows(self, listener_id: str) -> bool:
        """True when ``listener_id`` is in the published data (the dump's listeners or the
        history snapshot); an unknown one is scored as a cold start (the prior skip rate)."""
        return listener_id in self.lookup.profiles or listener_id in self.lookup.users

    @property
    def prior_rate(self) -> float:
        """The skip rate a listener with no history starts from (all plays' rate)."""
        return self.lookup.prior_rate

    def features(
        self,
        listener_id: str | None,
        track_id: str,
        session_so_far: Sequence[Mapping[str, Any]],
        now: str | pd.Timestamp | None = None,
    ) -> pd.DataFrame:
        """The one-row feature table (``play_id`` + :data:`FEATURE_COLUMNS`) of the play.

        ``session_so_far``: the session's earlier events, each a mapping with
        ``timestamp`` (ISO text or Timestamp, naive UTC), ``event_type`` (one of
        :data:`EVENT_TYPES`) and ``track_id`` (None for ads). ``now``: when the play
        starts (default: one second after the last event, or the serving week's
        Monday for a new session). ``play_id`` is the play's position in the session
        (the number of earlier events). Raises :class:`PozytywkaError` for an unknown
        track, an unknown event type or an event not before ``now``.
        """
        if track_id not in self.known_tracks:
            raise PozytywkaError(f"unknown track_id {track_id!r}")
        events = _events_list(session_so_far)
        if now is None:
            now = max(e[0] for e in events) + pd.Timedelta(seconds=1) if events else self.serve_week
        now = pd.Timestamp(now)
        if now.tzinfo is not None:
            now = now.tz_convert("UTC").tz_localize(None)
        if any(e[0] >= now for e in events):
            raise PozytywkaError("every event of session_so_far must be before the play starts")
        judged = [(epoch_us(ts), kind, track) for ts, kind, track in events]
        # the current play is the session's next play: it closes the previous one's outcome
        outcomes = session_outcomes([*judged, (epoch_us(now), "play", track_id)])[:-1]
        # session_outcomes keeps the plays in event order: pair each with its track
        played = [k for _, kind, k in judged if kind == "play" and k is not None]
        earlier = [(t, s, k) for (t, s), k in zip(outcomes, played, strict=True)]
        row = self.lookup.features(listener_id, track_id, now, earlier, [t for t, _, _ in judged])
        return pd.DataFrame([{"play_id": len(events), **row}])

    def predict(
        self,
        listener_id: str | None,
        track_id: str,
        session_so_far: Sequence[Mapping[str, Any]],
        arm: str = "B",
        now: str | pd.Timestamp | None = None,
    ) -> Prediction:
        """P(skip) and the caching decision of arm ``arm`` (A: genre rule, B: CatBoost)."""
        if arm not in ARM_MODELS:
            raise PozytywkaError(f"arm must be one of {', '.join(ARM_MODELS)}, got {arm!r}")
        name = ARM_MODELS[arm]
        row = self.features(listener_id, track_id, session_so_far, now)
        if name == "catboost":
            p = float(predict_skip(self.model, row)[0])
        else:
            p = float(predict_baseline(self.baselines, name, row)[0])
        threshold = float(self.meta["thresholds"][name]["cache"])
        return Prediction(p, "stream" if p >= threshold else "fetch", name, threshold)


def _events_list(
    session_so_far: Sequence[Mapping[str, Any]],
) -> list[tuple[pd.Timestamp, str, str | None]]:
    """``(timestamp naive UTC, event_type, track_id)`` per event, validated (one clear error)."""
    out = []
    for i, event in enumerate(session_so_far):
        kind = str(event.get("event_type", "")).lower().replace("advertisment", "advertisement")
        if kind not in EVENT_TYPES:
            raise PozytywkaError(
                f"session_so_far[{i}].event_type must be one of {', '.join(EVENT_TYPES)}"
            )
        try:
            ts = pd.Timestamp(event["timestamp"])
        except (KeyError, ValueError, TypeError):
            raise PozytywkaError(
                f"session_so_far[{i}].timestamp is missing or not a time"
            ) from None
        if ts is pd.NaT:
            raise PozytywkaError(f"session_so_far[{i}].timestamp is missing or not a time")
        if ts.tzinfo is not None:
            ts = ts.tz_convert("UTC").tz_localize(None)
        track = event.get("track_id")
        if kind != "advertisement" and not track:
            raise PozytywkaError(f"session_so_far[{i}] ({kind}) needs a track_id")
        out.append((ts, kind, None if kind == "advertisement" else str(track)))
    return out


__all__ = ["ARM_MODELS", "FEATURE_COLUMNS", "OnlineScorer", "Prediction"]
