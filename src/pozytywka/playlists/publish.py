"""Next week's popular playlists from a model's track scores (DESIGN §4 "Playlist").

The rules, in the order they are applied:

1. **Genres.** A genre's score is the sum of its tracks' predicted popularity
   (a track counts in every genre of its artist). Genres are ranked by that
   score, ties by genre name. Only scored tracks that exist in ``tracks`` count.
2. **Tracks.** Within a genre, candidates are taken by score (ties by
   ``track_id``, so the result never depends on row order) and a candidate is
   passed over when it would repeat a track already in the playlist (the same
   ``track_id``, or the same song: case-folded, trimmed name by the same
   artist) or when its artist already has ``max_per_artist`` tracks in it. At
   most ``max_size`` tracks are kept: the best ones when more are available.
3. **Skipping.** A genre that cannot reach ``min_size`` is skipped, recorded
   with the reason, and the next genre in the ranking takes its place, so the
   output has ``n_genres`` playlists whenever enough genres can be filled.
4. **Overlap.** Micro-genres overlap heavily (an artist carries many genre tags),
   so five playlists must not be five copies: two of the week's playlists share
   at most ``max_shared_tracks`` tracks (default 0: a track is in at most one
   playlist). A song counts as shared when the same track, or the same song
   under another id, is in a playlist already chosen. Genres are filled in rank
   order, so a better-ranked genre keeps its tracks; a later genre takes its next
   best tracks instead, and when what is left cannot reach ``min_size`` (its
   playlist would mostly repeat chosen ones) the genre is passed over, recorded
   with the genres it would repeat (``repeats``), and the next genre is taken.
5. **Order.** Neighbouring songs should match, and the strongest tracks come
   early (listeners start a playlist from the top). The playlist starts with its
   top-scored track; each next song is the nearest, in standardised
   audio-feature space, among the :data:`ORDER_WINDOW` best-scored tracks left;
   then 2-opt moves reversing short stretches (at most ``ORDER_WINDOW`` songs)
   shorten the path where they can, with the first track fixed. Features are
   standardised over all scored candidates (so one scale holds across genres);
   a missing feature counts as the average. ``key`` is left out: it is a pitch
   class on a circle, not a quantity, and 11 is next to 0.

Scores in the output are rounded to 6 digits so reruns diff cleanly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..config import PlaylistParams
from ..dump_format import AUDIO_FEATURES
from ..errors import PozytywkaError

#: Audio features used to order a playlist (those present in ``tracks`` are used).
ORDER_FEATURES = tuple(name for name in AUDIO_FEATURES if name != "key")

SCORE_DIGITS = 6


def _round(value: float) -> float:
    return float(round(float(value), SCORE_DIGITS))


def _song_key(name: Any, artist_id: Any) -> tuple[str, str] | None:
    """The same song under another id: case-folded, whitespace-collapsed name + artist."""
    if name is None or pd.isna(name):
        return None
    text = " ".join(str(name).split()).casefold()
    if not text:
        return None
    return text, str(artist_id)


def _candidates(scores: pd.DataFrame, tracks: pd.DataFrame) -> pd.DataFrame:
    """Scored tracks with their name, artist and audio features, best first."""
    missing = {"track_id", "score"} - set(scores.columns)
    if missing:
        raise ValueError(f"scores lack columns {sorted(missing)}")
    s = scores[["track_id", "score"]].copy()
    s["track_id"] = s["track_id"].astype(str)
    s["score"] = pd.to_numeric(s["score"], errors="coerce").astype("float64")
    s = s[np.isfinite(s["score"].to_numpy())]
    # One score per track: if a frame repeats a track, keep its best score.
    s = s.sort_values(["track_id", "score"], ascending=[True, False], kind="mergesort")
    s = s.drop_duplicates("track_id", keep="first")

    cols = ["track_id", "name", "artist_id"]
    if "artist" in tracks.columns:
        cols.append("artist")
    feats = [c for c in ORDER_FEATURES if c in tracks.columns]
    t = tracks[cols + feats].copy()
    t["track_id"] = t["track_id"].astype(str)
    t = t.drop_duplicates("track_id", keep="first")
    if "artist" not in t.columns:
        t["artist"] = t["artist_id"]
    t["artist_id"] = t["artist_id"].astype(object).where(t["artist_id"].notna(), None)
    # A track without an artist is its own artist for the cap (nothing to cap it with).
    no_artist = t["artist_id"].isna()
    t.loc[no_artist, "artist_id"] = "track:" + t.loc[no_artist, "track_id"]
    t["artist_id"] = t["artist_id"].astype(str)

    c = s.merge(t, on="track_id", how="inner")
    c = c.sort_values(["score", "track_id"], ascending=[False, True], kind="mergesort")
    c = c.reset_index(drop=True)
    # Standardise the ordering features over all candidates; missing -> 0 (the mean).
    if feats:
        x = c[feats].apply(pd.to_numeric, errors="coerce").astype("float64").to_numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = np.nanmean(x, axis=0) if len(x) else np.zeros(len(feats))
            std = np.nanstd(x, axis=0) if len(x) else np.ones(len(feats))
        mean = np.where(np.isfinite(mean), mean, 0.0)
        std = np.where(np.isfinite(std) & (std > 0), std, 1.0)
        z = (x - mean) / std
        z[~np.isfinite(z)] = 0.0
        c[[f"_z_{f}" for f in feats]] = z
    return c


#: The next song is the nearest (in audio space) among this many best-ranked tracks left.
ORDER_WINDOW = 3


def order_by_similarity(features: np.ndarray, window: int = ORDER_WINDOW) -> list[int]:
    """An open path through the rows of ``features`` (best-ranked first) starting at row 0.

    Listeners start a playlist from the top, so the strongest tracks should come
    early, and neighbouring songs should match: the next song is the nearest
    neighbour of the current one among the ``window`` best-ranked tracks left
    (ties go to the lower row index, i.e. the better ranked track). Then 2-opt
    moves that reverse a stretch of at most ``window`` songs are applied while
    they shorten the path, so a song moves only a few places from where the
    ranking put it. Rows are points in standardised feature space, in rank order;
    the path is the order the playlist is played in, so its length is the sum of
    the jumps between neighbouring songs.
    """
    n = len(features)
    if n <= 2:
        return list(range(n))
    window = max(int(window), 1)
    diff = features[:, None, :] - features[None, :, :]
    dist = np.sqrt((diff**2).sum(axis=2))
    path = [0]
    left = list(range(1, n))  # in rank order
    while left:
        best = left[:window]
        nxt = min(best, key=lambda j: (dist[path[-1], j], j))
        path.append(nxt)
        left.remove(nxt)
    # 2-opt on an open path with a fixed start: reverse path[i..j], short stretches only.
    improved = True
    while improved:
        improved = False
        for i in range(1, n - 1):
            for j in range(i + 1, min(i + window, n)):
                a, b = path[i - 1], path[i]
                old = dist[a, b]
                new = dist[a, path[j]]
                if j + 1 < n:
                    c, d = path[j], path[j + 1]
                    old += dist[c, d]
                    new += dist[b, d]
                if new < old - 1e-12:
                    path[i : j + 1] = path[i : j + 1][::-1]
                    improved = True
    return path


class _Taken:
    """Tracks and songs of the playlists chosen so far (for the overlap rule)."""

    def __init__(self) -> None:
        self.ids: dict[str, set[int]] = {}
        self.songs: dict[tuple[str, str], set[int]] = {}

    def playlists_holding(self, track_id: str, song: tuple[str, str] | None) -> set[int]:
        held = set(self.ids.get(track_id, ()))
        if song is not None:
            held |= self.songs.get(song, set())
        return held

    def add(self, index: int, picked: pd.DataFrame) -> None:
        for row in picked.itertuples(index=False):
            self.ids.setdefault(row.track_id, set()).add(index)
            key = _song_key(row.name, row.artist_id)
            if key is not None:
                self.songs.setdefault(key, set()).add(index)


def _pick(
    group: pd.DataFrame,
    params: PlaylistParams,
    taken: _Taken | None = None,
) -> tuple[pd.DataFrame, set[int]]:
    """The best tracks of one genre under the duplicate, per-artist and overlap rules.

    Returns the chosen rows and the indices of earlier playlists whose tracks were
    passed over because that playlist already shares ``max_shared_tracks`` with
    this one (empty when ``taken`` is None: no overlap rule).
    """
    chosen: list[int] = []
    seen_ids: set[str] = set()
    seen_songs: set[tuple[str, str]] = set()
    per_artist: dict[str, int] = {}
    shared: dict[int, int] = {}
    blocked_by: set[int] = set()
    for pos, row in enumerate(group.itertuples(index=False)):
        if len(chosen) >= params.max_size:
            break
        if row.track_id in seen_ids:
            continue
        key = _song_key(row.name, row.artist_id)
        if key is not None and key in seen_songs:
            continue
        if per_artist.get(row.artist_id, 0) >= params.max_per_artist:
            continue
        held = taken.playlists_holding(row.track_id, key) if taken is not None else set()
        full = {i for i in held if shared.get(i, 0) >= params.max_shared_tracks}
        if full:
            blocked_by |= full
            continue
        for i in held:
            shared[i] = shared.get(i, 0) + 1
        chosen.append(pos)
        seen_ids.add(row.track_id)
        if key is not None:
            seen_songs.add(key)
        per_artist[row.artist_id] = per_artist.get(row.artist_id, 0) + 1
    return group.iloc[chosen], blocked_by


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def build_playlist_set(
    scores: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
) -> tuple[list[dict], list[dict]]:
    """Playlists and the genres skipped on the way (see the module docstring).

    ``scores``: ``track_id``, ``score`` (predicted next-week popularity).
    ``tracks``: the interim tracks table (``track_id``, ``name``, ``artist_id``,
    audio features), optionally with ``artist`` (the artist's display name;
    ``artist_id`` is shown otherwise). ``track_genres``: ``track_id``, ``genre``.

    Returns ``(playlists, skipped)``: each playlist is ``{"genre",
    "predicted_popularity", "tracks": [{"track_id", "name", "artist",
    "score"}]}`` in genre-rank order; each skipped entry is ``{"genre",
    "predicted_popularity", "eligible_tracks", "reason"}``, plus ``"repeats"``
    (the chosen genres it would repeat) when the overlap rule passed it over.
    """
    cand = _candidates(scores, tracks)
    tg = track_genres[["track_id", "genre"]].dropna().astype({"track_id": str, "genre": str})
    tg = tg.drop_duplicates()
    pairs = cand.merge(tg, on="track_id", how="inner")
    if pairs.empty:
        return [], []
    genre_score = pairs.groupby("genre", sort=True)["score"].sum()
    ranking = (
        genre_score.rename("genre_score")
        .reset_index()
        .sort_values(["genre_score", "genre"], ascending=[False, True], kind="mergesort")
    )
    # Candidates within a genre keep the global order: score desc, track_id asc.
    pairs = pairs.sort_values(
        ["genre", "score", "track_id"], ascending=[True, False, True], kind="mergesort"
    )
    by_genre = dict(tuple(pairs.groupby("genre", sort=False)))
    zcols = [c for c in cand.columns if c.startswith("_z_")]

    playlists: list[dict] = []
    skipped: list[dict] = []
    taken = _Taken()
    for genre, g_score in ranking.itertuples(index=False):
        if len(playlists) >= params.n_genres:
            break
        alone, _ = _pick(by_genre[genre], params)
        if len(alone) < params.min_size:
            skipped.append(
                {
                    "genre": genre,
                    "predicted_popularity": _round(g_score),
                    "eligible_tracks": int(len(alone)),
                    "reason": f"only {len(alone)} eligible tracks (min_size {params.min_size})",
                }
            )
            continue
        picked, blocked_by = _pick(by_genre[genre], params, taken)
        if len(picked) < params.min_size:
            repeats = [playlists[i]["genre"] for i in sorted(blocked_by)]
            skipped.append(
                {
                    "genre": genre,
                    "predicted_popularity": _round(g_score),
                    "eligible_tracks": int(len(picked)),
                    "reason": (
                        f"would repeat {', '.join(repeats)}: only {len(picked)} tracks "
                        f"not already published (min_size {params.min_size}, "
                        f"max_shared_tracks {params.max_shared_tracks})"
                    ),
                    "repeats": repeats,
                }
            )
            continue
        taken.add(len(playlists), picked)
        feats = picked[zcols].to_numpy(dtype="float64") if zcols else np.zeros((len(picked), 1))
        order = order_by_similarity(feats)
        picked = picked.iloc[order]
        playlists.append(
            {
                "genre": genre,
                "predicted_popularity": _round(g_score),
                "tracks": [
                    {
                        "track_id": r.track_id,
                        "name": _text(r.name),
                        "artist": _text(r.artist),
                        "score": _round(r.score),
                    }
                    for r in picked.itertuples(index=False)
                ],
            }
        )
    return playlists, skipped


def build_playlists(
    scores: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
) -> list[dict]:
    """The playlists only (see :func:`build_playlist_set` for the skipped genres)."""
    return build_playlist_set(scores, tracks, track_genres, params)[0]


def choose_published_model(setting: str, offline: dict | None) -> tuple[str, str]:
    """Which model's playlists to publish, and why (``playlists.model``).

    ``setting`` is ``catboost`` or ``baseline`` (published as asked) or ``auto``:
    the model with the higher backtest NDCG@k in ``offline`` (``metrics/offline.json``,
    DESIGN §6: ``{"k", "baseline": {"ndcg_at_k"}, "catboost": {"ndcg_at_k"}}``).
    Tie rule: CatBoost must be strictly better at the 6 digits offline.json keeps;
    on a tie the baseline is published (the simpler model, nothing to train).
    Raises :class:`PozytywkaError` when ``auto`` has no offline metrics to decide by.
    Returns ``(model, reason)``; the reason is one sentence for people.
    """
    if setting != "auto":
        return setting, f"playlists.model is {setting}"
    k = (offline or {}).get("k", "k")
    ndcg = {}
    for model in ("baseline", "catboost"):
        value = ((offline or {}).get(model) or {}).get("ndcg_at_k")
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not np.isfinite(value):
            raise PozytywkaError(
                f"playlists.model is auto but metrics/offline.json has no {model} ndcg_at_k: "
                "run `dvc repro evaluate` or set playlists.model to catboost or baseline"
            )
        ndcg[model] = round(float(value), SCORE_DIGITS)
    figures = (
        f"backtest NDCG@{k} {ndcg['catboost']:.4f} (CatBoost) vs {ndcg['baseline']:.4f} (baseline)"
    )
    if ndcg["catboost"] > ndcg["baseline"]:
        return "catboost", f"auto: CatBoost has the better {figures}"
    if ndcg["catboost"] == ndcg["baseline"]:
        return "baseline", f"auto: a tie, {figures}; a tie publishes the simpler baseline"
    return "baseline", f"auto: the baseline has the better {figures}"


def playlist_document(
    week_start: pd.Timestamp,
    model: str,
    playlists: list[dict],
    skipped: list[dict],
    reason: str | None = None,
) -> dict:
    """The JSON document of DESIGN §6 (plus ``skipped``, and ``model_reason`` if given)."""
    doc = {
        "week_start": pd.Timestamp(week_start).strftime("%Y-%m-%d"),
        "model": model,
    }
    if reason is not None:
        doc["model_reason"] = reason
    doc["playlists"] = playlists
    doc["skipped"] = skipped
    return doc


def served_track_lists(document: dict) -> list[list[str]]:
    """The track-id lists a user of this document's arm is served, in genre order."""
    return [[t["track_id"] for t in p["tracks"]] for p in document.get("playlists", [])]


def _md_cell(value: Any) -> str:
    return "" if value is None else str(value).replace("|", "\\|").replace("\n", " ")


def playlists_markdown(document: dict) -> str:
    """The published playlists for people: one table per genre, then the skipped genres."""
    lines = [
        f"# Pozytywka popular playlists, week of {document['week_start']}",
        "",
        f"Model: **{document['model']}**"
        + (f" ({document['model_reason']})" if document.get("model_reason") else "")
        + ". Genres ranked by predicted popularity "
        "(the sum of their tracks' predicted weekly listeners); tracks in play order.",
        "",
    ]
    if not document["playlists"]:
        lines += ["No genre had enough eligible tracks for a playlist.", ""]
    for rank, p in enumerate(document["playlists"], start=1):
        lines += [
            f"## {rank}. {p['genre']} ({len(p['tracks'])} tracks, "
            f"predicted popularity {p['predicted_popularity']:g})",
            "",
            "| # | track | artist | score | track_id |",
            "|---:|---|---|---:|---|",
        ]
        for i, t in enumerate(p["tracks"], start=1):
            lines.append(
                f"| {i} | {_md_cell(t['name'])} | {_md_cell(t['artist'])} | "
                f"{t['score']:.3f} | `{t['track_id']}` |"
            )
        lines.append("")
    skipped = document.get("skipped", [])
    if skipped:
        lines += [
            "## Skipped genres",
            "",
            "| genre | predicted popularity | reason |",
            "|---|---:|---|",
        ]
        for s in skipped:
            lines.append(
                f"| {_md_cell(s['genre'])} | {s['predicted_popularity']:g} | "
                f"{_md_cell(s['reason'])} |"
            )
        lines.append("")
    return "\n".join(lines)


def _jaccard(a: set, b: set) -> float:
    return 1.0 if not a and not b else len(a & b) / len(a | b)


def playlist_metrics(documents: dict[str, dict], published: str) -> dict:
    """Small metrics: size of the published set, its distinct tracks, how the models agree.

    ``distinct_track_share`` = distinct track ids / track slots over the published
    playlists (1.0 when no track is in two playlists; issue 9 item 11).
    """
    pub = documents[published]
    ids = [t["track_id"] for p in pub["playlists"] for t in p["tracks"]]
    out: dict[str, Any] = {
        "model": published,
        "n_playlists": len(pub["playlists"]),
        "n_tracks": len(ids),
        "n_distinct_tracks": len(set(ids)),
        "distinct_track_share": _round(len(set(ids)) / len(ids)) if ids else 1.0,
        "n_skipped": len(pub.get("skipped", [])),
    }
    if {"baseline", "catboost"} <= set(documents):
        base, cat = documents["baseline"], documents["catboost"]

        def pairs(doc: dict) -> set:
            return {(p["genre"], t["track_id"]) for p in doc["playlists"] for t in p["tracks"]}

        def genres(doc: dict) -> set:
            return {p["genre"] for p in doc["playlists"]}

        out["genre_jaccard_baseline_catboost"] = _round(_jaccard(genres(base), genres(cat)))
        out["track_jaccard_baseline_catboost"] = _round(_jaccard(pairs(base), pairs(cat)))
    return out


__all__ = [
    "ORDER_FEATURES",
    "build_playlist_set",
    "build_playlists",
    "choose_published_model",
    "order_by_similarity",
    "playlist_document",
    "playlist_metrics",
    "playlists_markdown",
    "served_track_lists",
]
