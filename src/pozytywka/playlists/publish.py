"""Next week's popular playlists from a model's track scores (DESIGN §4 "Playlist").

The ``n_genres`` playlists are chosen *as a set*: genres and tracks together, so
that the playlists are distinct and each one is strong (issue 21). The rules:

1. **Tracks.** A genre's playlist takes its candidates by score (ties by
   ``track_id``, so the result never depends on row order); a candidate is
   passed over when it would repeat a track already in the playlist (the same
   ``track_id``, or the same song: case-folded, trimmed name by the same
   artist), when its artist already has ``max_per_artist`` tracks in it, or
   when it would make the playlist share more than ``max_shared_tracks`` songs
   with one already chosen (default 0: a track is in at most one playlist). At
   most ``max_size`` tracks are kept: the best ones. A track counts in every
   genre of its artist; only scored tracks that exist in ``tracks`` count.
2. **Value.** A genre's value is the summed score (predicted next-week
   popularity) of the tracks its playlist would publish given the playlists
   already chosen: what adding it adds. Any score column works: a model's, the
   baseline's, or the actual popularity (the exclusive oracle,
   :mod:`pozytywka.playlists.setmetrics`).
3. **Greedy set selection.** Step by step, the genre of the highest value is
   taken (ties by genre name) until ``n_genres`` are chosen or none is left
   (:func:`select_genres`; lazy re-evaluation keeps it fast with thousands of
   micro-genres). Its value is its ``predicted_popularity``; playlists are
   listed in the order taken.
4. **Skipping.** A genre that reaches the top but cannot be published is
   recorded in ``skipped`` with the reason and the next best one is taken: a
   genre whose own best playlist (without the overlap rule) has fewer than
   ``min_size`` tracks; and a **near-copy** of chosen genres (micro-genres
   overlap heavily: an artist carries many genre tags), i.e. a genre whose own
   best playlist is already published for at least ``near_copy_share`` of its
   tracks (songs it may share under ``max_shared_tracks`` do not count), or
   whose playlist from the unused tracks cannot reach ``min_size``. A
   near-copy is recorded with the chosen genres it would repeat (``repeats``)
   when it would have made the list on its own (see :func:`select_genres`).
   So a near-copy's weak tail is never published as a playlist of its own.
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

import heapq
from dataclasses import dataclass
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


@dataclass(frozen=True)
class _Pool:
    """The scored candidates as integer codes, one row per track, best first.

    ``score``, ``artist`` and ``song`` are aligned with the candidate rows (score
    desc, ``track_id`` asc). ``song`` codes the duplicate rule: two rows share a
    code when they are the same song (case-folded, trimmed name by the same
    artist); a track without a name is a song of its own. ``genres`` maps each
    genre to its candidate rows, best first; ``song_genres`` each song code to
    the genres holding a track of it (who is affected when a song is published).
    """

    score: np.ndarray
    artist: np.ndarray
    song: np.ndarray
    genres: dict[str, np.ndarray]
    song_genres: dict[int, tuple[str, ...]]


def _pool(cand: pd.DataFrame, pairs: pd.DataFrame) -> _Pool:
    """Integer codes of the candidates (``cand``, best first) and their (track, genre) pairs."""
    keys = [
        _song_key(name, artist) or ("\0", tid)
        for tid, name, artist in zip(cand["track_id"], cand["name"], cand["artist_id"], strict=True)
    ]
    song = pd.factorize(pd.Series(["\x1f".join(k) for k in keys], dtype=object))[0]
    artist = pd.factorize(cand["artist_id"])[0]
    row_of = pd.Series(np.arange(len(cand)), index=cand["track_id"].to_numpy())
    p = pairs[["genre", "track_id"]].assign(row=row_of.reindex(pairs["track_id"]).to_numpy())
    p = p.sort_values(["genre", "row"], kind="mergesort")
    genre_arr = p["genre"].to_numpy()
    rows = p["row"].to_numpy(dtype=np.int64)
    cuts = np.flatnonzero(genre_arr[1:] != genre_arr[:-1]) + 1
    starts = np.concatenate([[0], cuts]) if len(rows) else np.array([], dtype=np.int64)
    genres = {str(genre_arr[s]): r for s, r in zip(starts, np.split(rows, cuts), strict=True)}
    song_genres: dict[int, list[str]] = {}
    for genre, r in genres.items():
        for code in set(song[r].tolist()):
            song_genres.setdefault(code, []).append(genre)
    return _Pool(
        score=cand["score"].to_numpy(dtype="float64"),
        artist=artist,
        song=song,
        genres=genres,
        song_genres={k: tuple(v) for k, v in song_genres.items()},
    )


def _pick(
    rows: np.ndarray,
    pool: _Pool,
    params: PlaylistParams,
    held: dict[int, list[int]] | None = None,
) -> tuple[list[int], set[int]]:
    """The best tracks of one genre under the duplicate, per-artist and overlap rules.

    ``rows``: the genre's candidate rows, best first. ``held``: song code -> the
    indices of the chosen playlists holding that song (None: no overlap rule,
    the genre's standalone playlist). Returns the chosen rows (at most
    ``max_size``, best first) and the indices of chosen playlists whose tracks
    were passed over because this one already shares ``max_shared_tracks`` with
    them.
    """
    chosen: list[int] = []
    seen_songs: set[int] = set()
    per_artist: dict[int, int] = {}
    shared: dict[int, int] = {}
    blocked_by: set[int] = set()
    for r in rows.tolist():
        if len(chosen) >= params.max_size:
            break
        song = int(pool.song[r])
        if song in seen_songs:
            continue
        artist = int(pool.artist[r])
        if per_artist.get(artist, 0) >= params.max_per_artist:
            continue
        holders = held.get(song, ()) if held is not None else ()
        full = {i for i in holders if shared.get(i, 0) >= params.max_shared_tracks}
        if full:
            blocked_by |= full
            continue
        for i in holders:
            shared[i] = shared.get(i, 0) + 1
        chosen.append(r)
        seen_songs.add(song)
        per_artist[artist] = per_artist.get(artist, 0) + 1
    return chosen, blocked_by


def _value(pool: _Pool, rows: list[int]) -> float:
    """A playlist's value: the summed scores of the tracks it would publish."""
    return float(pool.score[rows].sum()) if rows else 0.0


@dataclass(frozen=True)
class Choice:
    """One chosen genre: its candidate rows in score order and its value."""

    genre: str
    rows: list[int]
    value: float


def _near_copy_record(
    genre: str, alone_value: float, picked: list[int], repeats: list[str], why: str
) -> dict:
    return {
        "genre": genre,
        "predicted_popularity": _round(alone_value),
        "eligible_tracks": len(picked),
        "reason": f"would repeat {', '.join(repeats)}: {why}",
        "repeats": repeats,
    }


def select_genres(
    pool: _Pool, params: PlaylistParams, lazy: bool | None = None
) -> tuple[list[Choice], list[dict]]:
    """Greedy set selection (module docstring, rules 2-4) with lazy re-evaluation.

    Each step takes the genre whose playlist, built from the tracks the chosen
    ones have not used, has the highest value (summed scores), ties by genre
    name. A genre's value changes only when a chosen playlist publishes one of
    its songs; those genres are marked stale and keep their old value as an
    upper bound in the heap (lazy greedy, Minoux 1978): a genre is re-evaluated
    only when it reaches the top, and taken when its fresh value is still the
    best. The bound holds when removing tracks can only lower a value: with
    ``max_shared_tracks`` 0 and scores >= 0 the tracks a genre may publish form
    a matroid (per-song and per-artist caps nest, then the size cap), whose
    greedy best weight never grows when elements are removed. Otherwise
    (negative scores, or shared tracks allowed) every affected genre is
    re-evaluated at once. Either way the result is that of plain greedy
    (``lazy=False`` forces the eager way: tests compare the two).

    **Near-copies.** When a chosen playlist publishes songs of a genre's own best
    playlist (its standalone playlist, without the overlap rule), the genre is a
    near-copy once the published ones beyond the ``max_shared_tracks`` allowed
    make up ``near_copy_share`` of that playlist; it leaves the running. It is
    recorded in ``skipped`` when its standalone value is at least the value of the
    weakest chosen playlist (it would have made the list on its own). A genre
    that reaches the top with fewer than ``min_size`` unused tracks left is a
    near-copy too, and recorded then.

    Returns the chosen genres in the order taken and the skipped ones, in the
    order they were passed over: ``{"genre", "predicted_popularity" (the value of
    its standalone playlist), "eligible_tracks" (the tracks it could publish),
    "reason"}``, plus ``"repeats"`` (the chosen genres it would repeat) for a
    near-copy.
    """
    if lazy is None:
        lazy = params.max_shared_tracks == 0 and bool((pool.score >= 0).all())
    alone = {g: _pick(rows, pool, params)[0] for g, rows in pool.genres.items()}
    alone_value = {g: _value(pool, rows) for g, rows in alone.items()}
    current = dict(alone)
    blocked: dict[str, set[int]] = {g: set() for g in pool.genres}
    value = dict(alone_value)
    stamp = dict.fromkeys(pool.genres, 0)
    fresh = dict.fromkeys(pool.genres, True)
    heap = [(-v, g, 0) for g, v in value.items()]
    heapq.heapify(heap)
    held: dict[int, list[int]] = {}
    chosen: list[Choice] = []
    # (record, kept only if the genre would have made the list alone?)
    events: list[tuple[dict, bool]] = []
    done: set[str] = set()

    def refresh(genre: str) -> None:
        current[genre], blocked[genre] = _pick(pool.genres[genre], pool, params, held)
        value[genre] = _value(pool, current[genre])
        stamp[genre] += 1
        fresh[genre] = True
        heapq.heappush(heap, (-value[genre], genre, stamp[genre]))

    def repeats_of(genre: str) -> list[str]:
        own = {int(pool.song[r]) for r in alone[genre]}
        holders = {i for s in own for i in held.get(s, ())} | blocked[genre]
        return [chosen[i].genre for i in sorted(holders)]

    while heap and len(chosen) < params.n_genres:
        _, genre, st = heapq.heappop(heap)
        if genre in done or st != stamp[genre]:
            continue
        if not fresh[genre]:
            refresh(genre)
            continue
        done.add(genre)
        own = alone[genre]
        if len(own) < params.min_size:
            record = {
                "genre": genre,
                "predicted_popularity": _round(alone_value[genre]),
                "eligible_tracks": len(own),
                "reason": f"only {len(own)} eligible tracks (min_size {params.min_size})",
            }
            events.append((record, False))
            continue
        picked = current[genre]
        if len(picked) < params.min_size:
            why = (
                f"only {len(picked)} tracks not already published (min_size "
                f"{params.min_size}, max_shared_tracks {params.max_shared_tracks})"
            )
            record = _near_copy_record(genre, alone_value[genre], picked, repeats_of(genre), why)
            events.append((record, False))
            continue
        index = len(chosen)
        chosen.append(Choice(genre, picked, value[genre]))
        touched: set[str] = set()
        for r in picked:
            song = int(pool.song[r])
            held.setdefault(song, []).append(index)
            touched.update(pool.song_genres[song])
        for other in sorted(touched - done):
            own = alone[other]
            if len(own) < params.min_size:
                continue  # never publishable: its value stays what it is alone
            reused = sum(1 for r in own if int(pool.song[r]) in held)
            beyond = reused - params.max_shared_tracks
            if beyond > 0 and beyond >= params.near_copy_share * len(own):
                done.add(other)
                refresh(other)  # the tracks it could still publish, for the record
                why = (
                    f"{reused} of its {len(own)} tracks already published "
                    f"(near_copy_share {params.near_copy_share:g})"
                )
                record = _near_copy_record(
                    other, alone_value[other], current[other], repeats_of(other), why
                )
                events.append((record, True))
            elif lazy:
                fresh[other] = False
            else:
                refresh(other)
    weakest = min((c.value for c in chosen), default=float("inf"))
    skipped = [
        record
        for record, if_strong in events
        if not if_strong or record["predicted_popularity"] >= _round(weakest)
    ]
    return chosen, skipped


def _text(value: Any) -> str | None:
    return None if value is None or pd.isna(value) else str(value)


def build_playlist_set(
    scores: pd.DataFrame,
    tracks: pd.DataFrame,
    track_genres: pd.DataFrame,
    params: PlaylistParams,
    lazy: bool | None = None,
) -> tuple[list[dict], list[dict]]:
    """Playlists and the genres skipped on the way (see the module docstring).

    ``scores``: ``track_id``, ``score`` (predicted next-week popularity).
    ``tracks``: the interim tracks table (``track_id``, ``name``, ``artist_id``,
    audio features), optionally with ``artist`` (the artist's display name;
    ``artist_id`` is shown otherwise). ``track_genres``: ``track_id``, ``genre``.

    Returns ``(playlists, skipped)``: each playlist is ``{"genre",
    "predicted_popularity", "tracks": [{"track_id", "name", "artist",
    "score"}]}`` in the order the greedy selection took them, with
    ``predicted_popularity`` = the summed score of its tracks; each skipped
    entry is ``{"genre", "predicted_popularity", "eligible_tracks", "reason"}``
    (its value and the tracks it could publish when it reached the top), plus
    ``"repeats"`` (the chosen genres it would repeat) for a near-copy. A pure
    function: ``score`` may be any prediction, or the actual popularity.
    ``lazy``: see :func:`select_genres` (None: lazy where its bound holds).
    """
    cand = _candidates(scores, tracks)
    tg = track_genres[["track_id", "genre"]].dropna().astype({"track_id": str, "genre": str})
    tg = tg.drop_duplicates()
    pairs = cand[["track_id"]].merge(tg, on="track_id", how="inner")
    if pairs.empty:
        return [], []
    chosen, skipped = select_genres(_pool(cand, pairs), params, lazy)
    zcols = [c for c in cand.columns if c.startswith("_z_")]
    playlists: list[dict] = []
    for choice in chosen:
        picked = cand.iloc[choice.rows]
        feats = picked[zcols].to_numpy(dtype="float64") if zcols else np.zeros((len(picked), 1))
        picked = picked.iloc[order_by_similarity(feats)]
        playlists.append(
            {
                "genre": choice.genre,
                "predicted_popularity": _round(choice.value),
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
        + ". Genres chosen as a set: each one in turn adds the most predicted popularity "
        "(the sum of its tracks' predicted weekly listeners) with tracks no earlier "
        "playlist holds; tracks in play order.",
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
