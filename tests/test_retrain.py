"""Weekly retraining: the week plan, hindsight scores, drift flags and their report sections.

Hand-computed values on tables of a few rows; the git side (shallow-clone hint) on a
real shallow clone.
"""

from __future__ import annotations

import math
import subprocess
from pathlib import Path

import pandas as pd
import pytest

from pozytywka.cli import main
from pozytywka.config import DriftParams
from pozytywka.errors import PozytywkaError
from pozytywka.report.gitrev import resolve_revision, unshallow_command
from pozytywka.report.retraining import drift_section, hindsight_section, new_week_quality
from pozytywka.retrain import rounded
from pozytywka.retrain.drift import compare_last_week, weekly_stats
from pozytywka.retrain.hindsight import (
    iso_week,
    read_history,
    score_playlist,
    score_previous,
    update_history,
)
from pozytywka.retrain.plan import parse_iso_week, set_synthetic_weeks, target_horizon

ROOT = Path(__file__).resolve().parents[1]

# --- the week: ISO calendar, horizon ---------------------------------------------------


@pytest.mark.parametrize(
    "text, monday",
    [("2020-W53", "2020-12-28"), ("2025-W01", "2024-12-30"), ("2024-W31", "2024-07-29")],
)
def test_iso_weeks_that_exist_give_their_monday(text: str, monday: str) -> None:
    assert str(parse_iso_week(text)) == monday


@pytest.mark.parametrize(
    "text, message",
    [
        ("2021-W53", "2021 has weeks W01..W52"),
        ("2025-W00", "2025 has weeks W01..W52"),
        ("2025-W99", "2025 has weeks W01..W52"),
        ("2025-7", "must look like 2025-W07"),
    ],
)
def test_weeks_the_iso_calendar_lacks_are_one_line_errors(text: str, message: str) -> None:
    with pytest.raises(PozytywkaError, match=message):
        parse_iso_week(text)


def test_the_retrain_command_rejects_a_bad_week_with_one_line(capsys) -> None:
    assert main(["retrain", "--plan", "--week", "2021-W53"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["pozytywka retrain: error: 2021-W53 is not an ISO week: 2021 has weeks W01..W52"]


def test_the_horizon_adds_one_week_or_reaches_the_asked_week() -> None:
    # 2024-01-01 is W01; a 30-week dump ends with week 29 = 2024-W30
    assert target_horizon("2024-01-01", 30, None) == 31
    assert target_horizon("2024-01-01", 30, "2024-W31") == 31
    assert target_horizon("2024-01-01", 30, "2024-W30") == 30  # already there: no data
    assert target_horizon("2024-01-01", 30, "2024-W33") == 33
    with pytest.raises(PozytywkaError, match="before the synthetic service starts"):
        target_horizon("2024-01-01", 30, "2023-W50")
    assert iso_week("2024-07-29") == "2024-W31"


def test_advancing_the_horizon_edits_one_line_of_params_yaml() -> None:
    text = (ROOT / "params.yaml").read_text()
    new = set_synthetic_weeks(text, 31)
    changed = [(a, b) for a, b in zip(text.splitlines(), new.splitlines(), strict=True) if a != b]
    assert len(changed) == 1
    assert changed[0][1].strip().startswith("weeks: 31") and "#" in changed[0][1]
    # other *_weeks keys (history_weeks, eval_weeks, ...) are left alone
    other = "features:\n  history_weeks: 4\ndata:\n  source: x\n  synthetic:\n    weeks: 9\n"
    assert set_synthetic_weeks(other, 10).endswith("    weeks: 10\n")
    assert "history_weeks: 4" in set_synthetic_weeks(other, 10)
    with pytest.raises(PozytywkaError, match="no data.synthetic.weeks"):
        set_synthetic_weeks("data:\n  source: x\n", 3)


# --- hindsight ----------------------------------------------------------------------


def test_a_playlist_is_scored_against_its_genres_actual_week() -> None:
    actual = pd.Series({"a": 5, "b": 3, "c": 2, "d": 0})
    s = score_playlist(["b", "a"], actual, k=2)
    # DCG = 3/log2(2) + 5/log2(3); ideal = 5/log2(2) + 3/log2(3)
    dcg, ideal = 3 + 5 / math.log2(3), 5 + 3 / math.log2(3)
    assert s["ndcg_at_k"] == pytest.approx(dcg / ideal)  # 0.8929
    assert s["captured_popularity"] == 8 and s["oracle_popularity"] == 8
    assert s["capture_ratio"] == 1.0 and s["precision_at_k"] == 1.0
    worse = score_playlist(["c", "d"], actual, k=2)
    assert worse["capture_ratio"] == pytest.approx(2 / 8)
    assert worse["precision_at_k"] == 0.0
    # a playlist track outside the genre's list counts with its popularity 0
    assert score_playlist(["x", "a"], actual, k=2)["captured_popularity"] == 5


def _previous(week: str = "2024-01-08") -> dict:
    return {
        "base": "abc123",
        "playlists": {
            "model": "catboost",
            "week_start": week,
            "playlists": [
                {"genre": "pop", "tracks": [{"track_id": "b"}, {"track_id": "a"}]},
                {"genre": "rock", "tracks": [{"track_id": "c"}, {"track_id": "d"}]},
            ],
        },
        "offline": {"catboost": {"ndcg_at_k": 0.93}, "baseline": {"ndcg_at_k": 0.88}, "k": 2},
        "ab": {"mode": "simulation", "lift": 0.034, "ci_low": 0.02, "ci_high": 0.05},
    }


WEEKLY = pd.DataFrame(
    {
        "week_start": pd.to_datetime(["2024-01-01"] * 2 + ["2024-01-08"] * 4),
        "track_id": ["a", "c", "a", "b", "c", "d"],
        "popularity": [9, 9, 5, 3, 2, 4],
    }
)
GENRES = pd.DataFrame({"track_id": ["a", "b", "c", "d"], "genre": ["pop", "pop", "rock", "rock"]})


def test_previous_playlists_are_scored_on_their_week_with_the_promise_and_ab() -> None:
    table, summary = score_previous(_previous(), WEEKLY, GENRES, k=2)
    assert summary["status"] == "scored" and summary["iso_week"] == "2024-W02"
    assert list(table["genre"]) == ["pop", "rock"]
    # rock: playlist [c (2), d (4)]: oracle top-2 = 6, captured 6, but in the wrong order
    rock = table.set_index("genre").loc["rock"]
    assert rock["capture_ratio"] == 1.0
    assert rock["ndcg_at_k"] == pytest.approx((2 + 4 / math.log2(3)) / (4 + 2 / math.log2(3)))
    assert summary["captured_popularity"] == 14 and summary["oracle_popularity"] == 14
    assert summary["promised_ndcg_at_k"] == 0.93
    assert summary["ab"]["lift"] == 0.034
    # capture@10: the week's top 10 is all four tracks, 5+3+2+4 = 14; pop's b, a = 8,
    # rock's c, d = 6: (8/14 + 6/14) / 2 = 0.5 (the same at 20). No listener table: no reach.
    assert summary["capture_at_10"] == pytest.approx(0.5)
    assert summary["capture_at_20"] == pytest.approx(0.5)
    assert summary["set_reach"] is None


def test_the_published_set_reach_counts_each_listener_once() -> None:
    listeners = pd.DataFrame(
        {
            "week_start": pd.to_datetime(["2024-01-08"] * 5 + ["2024-01-01"]),
            "user_id": ["u1", "u1", "u2", "u3", "u4", "u5"],
            "track_id": ["a", "b", "a", "d", "x", "a"],
        }
    )
    _, summary = score_previous(_previous(), WEEKLY, GENRES, k=2, listeners=listeners)
    # Week 2024-01-08: u1 (a, b), u2 (a), u3 (d) played published tracks; u4 only x;
    # u5 played a the week before (another week).
    assert summary["set_reach"] == 3 and summary["listeners"] == 4
    history = update_history(read_history(None), summary)
    assert history.loc[0, "set_reach"] == 3


def test_nothing_to_score_says_why() -> None:
    assert score_previous({"base": None, "playlists": None}, WEEKLY, GENRES, 2)[1] == {
        "status": "no_previous",
        "base": None,
    }
    _, later = score_previous(_previous("2024-01-15"), WEEKLY, GENRES, 2)
    assert later["status"] == "not_in_data" and later["last_week_in_data"] == "2024-01-08"


def test_the_history_has_one_row_per_week_whatever_the_reruns() -> None:
    _, summary = score_previous(_previous(), WEEKLY, GENRES, k=2)
    once = update_history(read_history(None), summary)
    twice = update_history(once, summary)
    assert len(once) == 1 and once.equals(twice)
    earlier = {**summary, "week_start": "2024-01-01", "iso_week": "2024-W01", "ndcg_at_k": 0.5}
    both = update_history(twice, earlier)
    assert list(both["week_start"]) == ["2024-01-01", "2024-01-08"]
    assert read_history(both.to_csv(index=False).encode()).shape == both.shape


# --- drift ------------------------------------------------------------------------------


def _stats() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "week_start": pd.date_range("2024-01-01", periods=5, freq="7D"),
            "events": [100, 110, 90, 105, 130],
            "active_users": [10, 11, 9, 10, 10],
            "new_tracks": [3, 4, 5, 2, 5],
            "skip_rate": [0.3, 0.32, 0.31, 0.3, 0.33],
            "genre_share_pop": [0.5, 0.52, 0.49, 0.51, 0.45],
            "genre_share_rock": [0.5, 0.48, 0.51, 0.49, 0.55],
        }
    )


def test_drift_flags_what_leaves_the_previous_weeks_range_by_the_margin() -> None:
    params = DriftParams(lookback_weeks=4, tolerance=0.1, share_tolerance=0.02, top_genres=1)
    d = compare_last_week(_stats(), params)
    assert d["week_start"] == "2024-01-29" and d["previous_weeks"] == 4
    # events 130 > max 110 + 10% of 110 = 121; new tracks 5 = max: not flagged
    assert d["measures"]["events"] == {"value": 130, "min": 90, "max": 110, "flagged": True}
    assert not d["measures"]["new_tracks"]["flagged"]
    # skip rate 0.33 <= 0.32 x 1.1: not flagged
    assert not d["measures"]["skip_rate"]["flagged"]
    # pop 0.45 < min 0.49 - 0.02; rock 0.55 > 0.51 + 0.02: both flagged and shown
    assert d["flags"] == ["events", "genre_share_pop", "genre_share_rock"]
    assert set(d["genres"]) == {"pop", "rock"}
    # a shorter look-back sees a narrower range
    short = compare_last_week(_stats(), DriftParams(lookback_weeks=1))
    assert short["measures"]["events"]["min"] == 105


def test_weekly_stats_from_sessions(tmp_path: Path) -> None:
    sessions = pd.DataFrame(
        {
            "timestamp": pd.to_datetime(
                [
                    "2024-01-01 10:00",
                    "2024-01-01 10:03",
                    "2024-01-02 08:00",
                    "2024-01-09 08:00",
                    "2024-01-10 08:00",
                ]
            ),
            "user_id": ["u1", "u1", "u2", "u1", "u1"],
            "track_id": ["a", "a", "b", "c", None],
            "event_type": ["play", "skip", "play", "play", "advertisement"],
        }
    )
    path = tmp_path / "sessions.parquet"
    sessions.to_parquet(path)
    weekly = pd.DataFrame(
        {
            "week_start": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-08"]),
            "track_id": ["a", "b", "c"],
            "plays": [1, 1, 1],
        }
    )
    genres = pd.DataFrame(
        {"track_id": ["a", "b", "c", "c"], "genre": ["pop", "rock", "pop", "rock"]}
    )
    s = weekly_stats(str(path), weekly, genres).set_index("week_start")
    first, second = s.loc["2024-01-01"], s.loc["2024-01-08"]
    assert (first["events"], first["active_users"], first["new_tracks"]) == (3, 2, 2)
    assert first["skip_rate"] == 0.5 and second["skip_rate"] == 0.0
    assert (second["events"], second["active_users"], second["new_tracks"]) == (2, 1, 1)
    assert first["genre_share_pop"] == 0.5 and second["genre_share_rock"] == 0.5


def test_rounded_metrics_are_valid_json_values() -> None:
    assert rounded({"a": [0.1234567891, float("nan")], "b": 3}) == {"a": [0.123457, None], "b": 3}


# --- the report's retraining sections ---------------------------------------------------


def test_the_report_shows_last_week_in_hindsight_and_what_moved() -> None:
    table, summary = score_previous(_previous(), WEEKLY, GENRES, k=2)
    text = hindsight_section(rounded(summary), table.to_dict("records"))
    assert "2024-W02" in text and "NDCG@2 **" in text and "promised 0.9300" in text
    assert "A/B simulation" in text and "+3.40%" in text
    assert "| pop | 2 | 8 | 8 | 1.0000 |" in text
    assert "nothing to score" in hindsight_section({"status": "no_previous"}, [])
    moved = drift_section(compare_last_week(_stats(), DriftParams()))
    assert "3 beyond the thresholds" in moved and "| events | 130 ⚠️ | 90 – 110 |" in moved
    quality = new_week_quality(
        {"sessions": {"rows_read": 10, "rows_kept": 9, "rows_dropped": 1, "dropped": {"x": 1}}},
        {"sessions": {"rows_read": 15, "rows_kept": 13, "rows_dropped": 2, "dropped": {"x": 2}}},
    )
    assert "+5 read, +4 kept, +1 dropped" in quality and "| dropped | x | 1 |" in quality


# --- the shallow-clone hint gives a command git accepts ----------------------------------


def _git(cwd: Path, *args: str) -> str:
    out = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


@pytest.mark.parametrize("rev", ["HEAD~1", "origin/other"])
def test_the_shallow_clone_hint_is_a_command_that_works(tmp_path: Path, rev: str) -> None:
    origin, clone = tmp_path / "origin", tmp_path / "clone"
    origin.mkdir()
    _git(origin, "init", "-q", "-b", "main")
    for i in range(3):
        (origin / "f").write_text(str(i))
        _git(origin, "add", "f")
        _git(origin, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", str(i))
    _git(origin, "branch", "other", "HEAD~2")
    url = origin.resolve().as_uri()
    _git(tmp_path, "clone", "-q", "--depth", "1", "--single-branch", "-b", "main", url, "clone")
    with pytest.raises(PozytywkaError, match="shallow clone") as err:
        resolve_revision(rev, clone)
    command = unshallow_command(rev)
    assert f"`{command}`" in str(err.value)
    _git(clone, *command.split()[1:])
    assert len(resolve_revision(rev, clone)) == 40
