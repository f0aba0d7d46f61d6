"""Names of the Pozytywka dump format (DESIGN §3) that more than one part relies on.

The generator writes these names and ingest reads them; features and
playlists use the audio columns. Keeping them here is what lets a change of
the format show up in every stage that depends on it (dvc.yaml declares it).
"""

#: The five JSON-lines files of a dump (each ``.jsonl`` or ``.jsonl.gz``).
DUMP_FILES: tuple[str, ...] = ("artists", "tracks", "users", "sessions", "track_storage")

#: Audio features of ``tracks.jsonl``, in file order. Dumps may carry more
#: (ignored) or fewer (their columns are then missing).
AUDIO_FEATURES: tuple[str, ...] = (
    "danceability",
    "energy",
    "key",
    "loudness",
    "speechiness",
    "acousticness",
    "instrumentalness",
    "liveness",
    "valence",
    "tempo",
)

#: Column order of each file in the positional edition, where every line is a
#: JSON array instead of an object (e.g. sessions
#: ``["2024-02-08 09:52:40.925 +02:00:00", 101, "T1", "Play", 7]``). It is the
#: key order of the object editions' lines. Ingest reads an array line by these
#: positions; an array of another length is a malformed row.
POSITIONAL_COLUMNS: dict[str, tuple[str, ...]] = {
    "artists": ("id", "name", "genres"),
    "tracks": (
        "id",
        "name",
        "popularity",
        "duration_ms",
        "explicit",
        "id_artist",
        "release_date",
        *AUDIO_FEATURES,
    ),
    "users": ("user_id", "name", "city", "street", "favourite_genres", "premium_user"),
    "sessions": ("timestamp", "user_id", "track_id", "event_type", "session_id"),
    "track_storage": ("track_id", "storage_class", "daily_cost"),
}
