"""`pozytywka summary`: the lines printed at the end of `make repro`."""

from __future__ import annotations

import json
import re
from pathlib import Path

from pozytywka.cli import main
from pozytywka.commands.summary import render_summary

PLAYLISTS = {
    "week_start": "2024-07-29",
    "model": "catboost",
    "playlists": [
        {"genre": "dance pop", "tracks": [{"track_id": f"t{i}"} for i in range(20)]},
        {"genre": "pop rap", "tracks": [{"track_id": f"u{i}"} for i in range(12)]},
    ],
    "skipped": [{"genre": "polka", "reason": "only 4 eligible tracks"}],
}
OFFLINE = {
    "k": 10,
    "weeks_evaluated": 6,
    "baseline": {
        "ndcg_at_k": 0.41,
        "ndcg_at_k_ci_low": 0.39,
        "ndcg_at_k_ci_high": 0.43,
        "precision_at_k": 0.3,
        "recall_at_k": 0.2,
        "capture_ratio": 0.7,
    },
    "catboost": {
        "ndcg_at_k": 0.46,
        "precision_at_k": 0.34,
        "recall_at_k": 0.22,
        "capture_ratio": 0.75,
    },
    "ndcg_diff": 0.05,
    "ndcg_diff_ci_low": 0.03,
    "ndcg_diff_ci_high": 0.07,
    "weeks_catboost_better": 5,
}
AB = {
    "arms": {
        "A": {
            "users": 1490,
            "play_through_rate": 0.61,
            "likes_per_user": 1.2,
            "skips_per_user": 4.0,
        },
        "B": {
            "users": 1510,
            "play_through_rate": 0.64,
            "likes_per_user": 1.3,
            "skips_per_user": 3.6,
        },
    },
    "metric": "play_through_rate",
    "lift": 0.049,
    "ci_low": 0.02,
    "ci_high": 0.078,
    "p_value": 0.0004,
    "srm_p_value": 0.72,
    "mde": 0.03,
    "decision": "ship B",
}


def test_summary_lists_playlists_metrics_with_ci_and_the_ab_decision():
    text = render_summary(PLAYLISTS, OFFLINE, AB)
    assert "Playlists for the week of 2024-07-29 (model catboost): 2 published" in text
    assert "dance pop   20 tracks" in text and "pop rap     12 tracks" in text
    assert "1 genre skipped (1 only 4 eligible tracks): polka" in text
    assert "NDCG@10         0.4100 [0.3900, 0.4300]" in text  # CI shown when present
    assert "0.4600" in text
    assert "CatBoost − baseline NDCG@10: +0.0500 [+0.0300, +0.0700], better in 5/6 weeks" in text
    assert "lift (B / A − 1) +4.90% (95% CI +2.00% to +7.80%), p = 0.0004" in text
    assert "arm B: 1510 users, play-through rate 0.640" in text
    assert "decision: ship B" in text


def test_missing_files_name_the_stage_to_run():
    text = render_summary(PLAYLISTS, None, None)
    assert "metrics/offline.json is missing: run `dvc repro evaluate`" in text
    assert "metrics/ab.json is missing: run `dvc repro ab_test`" in text


def test_summary_command_without_results_prints_one_line(tmp_path: Path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["summary"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "make repro" in err[0]


def test_summary_command_reads_the_files(tmp_path: Path, monkeypatch, capsys):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/offline.json").write_text(json.dumps(OFFLINE))
    monkeypatch.chdir(tmp_path)
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    assert "better in 5/6 weeks" in out and "run `dvc repro playlists`" in out


def test_a_replay_is_headed_as_an_estimate_with_why_it_is_inconclusive():
    """Issue 9 item 9: a replay was headed "A/B simulation" with no reason."""
    replay = {
        **AB,
        "mode": "replay",
        "lift": None,
        "ci_low": None,
        "ci_high": None,
        "p_value": None,
        "decision": "inconclusive",
        "reason": "only 1 user in arm A and 1 user in arm B played a served track: at least "
        "2 per arm, with some spread, are needed to compare",
    }
    text = render_summary(PLAYLISTS, OFFLINE, replay)
    assert "A/B replay estimate (not an experiment)" in text
    assert "A/B simulation" not in text
    assert "why: only 1 user in arm A and 1 user in arm B played a served track" in text
    assert "note: " in text
    simulation = render_summary(PLAYLISTS, OFFLINE, {**AB, "mode": "simulation"})
    assert "A/B simulation (A: baseline" in simulation


def test_an_undefined_lift_shows_the_difference_instead():
    undefined = {
        **AB,
        "lift": None,
        "ci_low": None,
        "ci_high": None,
        "lift_defined": False,
        "lift_note": "the control (A) mean is 0",
        "abs_diff": 0.25,
        "abs_ci_low": 0.05,
        "abs_ci_high": 0.45,
    }
    text = render_summary(PLAYLISTS, OFFLINE, undefined)
    assert (
        "difference +0.2500 (95% CI +0.0500 to +0.4500), relative lift undefined "
        "(the control (A) mean is 0)"
    ) in text


def test_one_week_prints_no_interval_and_names_the_left_out_weeks():
    """Issue 9 item 6: 'NDCG@10 0.5833 [0.5833, 0.5833]', 'better in 1/1 weeks', nothing else."""
    one = {
        "k": 10,
        "weeks_evaluated": 1,
        "interval": "too few weeks for an interval",
        "left_out_weeks": [
            {"week_start": "2024-05-06", "reason": "no evaluated genre had 2 or more ..."},
            {"week_start": "2024-05-13", "reason": "its history or target week touches a gap"},
        ],
        "baseline": {"ndcg_at_k": 0.5833, "ndcg_at_k_ci_low": None, "ndcg_at_k_ci_high": None},
        "catboost": {"ndcg_at_k": 0.6},
        "ndcg_diff": 0.0167,
        "ndcg_diff_ci_low": None,
        "ndcg_diff_ci_high": None,
        "weeks_catboost_better": 1,
    }
    text = render_summary(PLAYLISTS, one, AB)
    assert "Offline backtest over 1 week (mean; too few weeks for an interval)" in text
    assert "0.5833 [" not in text and "0.5833" in text
    assert "left out: week 2024-05-06: no evaluated genre" in text
    assert "left out: week 2024-05-13: its history or target week touches a gap" in text


def test_gap_weeks_are_in_the_summary():
    quality = {
        "window": {
            "complete_weeks": 30,
            "first_complete_week": "2024-01-01",
            "last_complete_week": "2024-07-22",
        },
        "gaps": {
            "min_share": 0.1,
            "median_week_events": 4512.0,
            "threshold": 451.2,
            "weeks": [{"week_start": "2024-02-12", "events": 0}],
        },
    }
    text = render_summary(PLAYLISTS, OFFLINE, AB, quality)
    assert text.startswith("Data: 30 complete weeks (2024-01-01 .. 2024-07-22)\n")
    assert "1 gap week: 2024-02-12 (0 events); fewer than 0.1 x the median week (4512" in text
    assert "left out of training and the backtest" in text


def test_many_skipped_genres_are_summarised_not_listed():
    """Issue 9 item 10: 126 skipped genres were listed one per line."""
    doc = {
        **PLAYLISTS,
        "skipped": [
            {"genre": f"g{i:03d}", "reason": f"only {i % 9} eligible tracks (min_size 10)"}
            for i in range(126)
        ],
    }
    text = render_summary(doc, OFFLINE, AB)
    skipped = [line for line in text.splitlines() if "skipped" in line]
    assert skipped == [
        "  126 genres skipped (126 only 0-8 eligible tracks (min_size 10)): g000, g001, g002, "
        "g003, g004 and 121 more; full list in reports/playlists/skipped_genres.csv"
    ]


def test_summary_says_which_model_was_published_and_why():
    doc = {**PLAYLISTS, "model": "baseline", "model_reason": "auto: the baseline has the better"}
    text = render_summary(doc, OFFLINE, AB)
    assert "  published baseline: auto: the baseline has the better" in text.splitlines()


def test_every_figure_says_what_it_measures():
    """Issue: units and a word of meaning on every figure, no identifiers for words."""
    text = render_summary(PLAYLISTS, OFFLINE, AB)
    assert "metric: play-through rate (full plays / plays)" in text
    assert "metric play_through_rate" not in text
    assert "SRM p: the sample-ratio check of the arm sizes (below 0.001" in text
    assert "all in [0, 1], higher is better" in text
    assert "capture ratio = the picks' next-week popularity / that of the best 10" in text


def test_the_whole_summary_has_no_python_repr():
    """'exclude_seen False' was printed: booleans and None read as words."""
    from test_skips_report import CACHE, SKIPS

    recs = {
        "weeks_evaluated": 4,
        "exclude_seen": False,
        "best_model": "catboost",
        "catboost": {"ndcg_at_20": 0.3, "recall_at_20": 0.4},
    }
    cache = {**CACHE, "weeks": 6, "plays": 1000, "bayes": {"cost": 55.0}}
    text = render_summary(PLAYLISTS, OFFLINE, AB, skips=SKIPS, cache=cache, recs=recs)
    assert re.findall(r"\b(?:True|False|None|nan)\b", text) == []
    assert "already-played tracks: allowed (recs.exclude_seen: false)" in text


def test_the_summary_ends_with_where_to_look_next(tmp_path: Path, monkeypatch, capsys):
    """The paths listed are the reports, plots and docs that exist, nothing else."""
    for name in (
        "reports/playlists/playlists.md",
        "reports/ab/summary.md",
        "reports/cache/server.png",
        "reports/recs/vs_popularity.md",
        "docs/definitions.md",
    ):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics/offline.json").write_text(json.dumps(OFFLINE))
    monkeypatch.chdir(tmp_path)
    assert main(["summary"]) == 0
    out = capsys.readouterr().out
    tail = out[out.index("Where to look next") :].splitlines()
    assert tail == [
        "Where to look next",
        "  playlists:  reports/playlists/playlists.md",
        "  A/B test:   reports/ab/summary.md",
        "  cache:      reports/cache/server.png",
        "  recs:       reports/recs/vs_popularity.md",
        "  every term: docs/definitions.md",
    ]
    assert "reports/ab/arms.png" not in out  # not written yet: not listed


def test_skipped_genres_of_one_kind_show_the_range_of_their_numbers():
    from pozytywka.playlists.skipped import skipped_summary

    text = skipped_summary(
        [
            ("a", "only 3 eligible tracks (min_size 10)"),
            ("b", "would repeat latin pop: only 2 tracks not already published (min_size 10)"),
            ("c", "only 7 eligible tracks (min_size 10)"),
        ]
    )
    assert text == (
        "3 genres skipped (2 only 3-7 eligible tracks (min_size 10); 1 would repeat latin pop: "
        "only 2 tracks not already published (min_size 10)): a, b, c"
    )


def test_a_difference_whose_interval_holds_zero_is_no_signal():
    from pozytywka.commands.summary import offline_lines, signal_verdict

    assert signal_verdict((-0.01, 0.02)) == "no signal (the interval holds 0)"
    assert signal_verdict((-0.03, -0.01)) == "baseline better"
    assert signal_verdict((0.01, 0.02)) == ""
    assert signal_verdict(None) == ""
    offline = {
        "k": 10,
        "weeks_evaluated": 4,
        "ndcg_diff": 0.004,
        "ndcg_diff_ci_low": -0.01,
        "ndcg_diff_ci_high": 0.018,
        "weeks_catboost_better": 2,
    }
    line = [ln for ln in offline_lines(offline) if "CatBoost − baseline" in ln][0]
    assert line.endswith("better in 2/4 weeks: no signal (the interval holds 0)")
