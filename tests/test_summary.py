"""`pozytywka summary`: the lines printed at the end of `make repro`."""

from __future__ import annotations

import json
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
    assert "skipped: polka (only 4 eligible tracks)" in text
    assert "NDCG@10         0.4100 [0.3900, 0.4300]" in text  # CI shown when present
    assert "0.4600" in text
    assert "CatBoost − baseline NDCG@10: +0.0500 [+0.0300, +0.0700], better in 5/6 weeks" in text
    assert "lift +4.90% (95% CI +2.00% to +7.80%), p = 0.0004" in text
    assert "arm B: 1510 users, play through rate 0.640" in text
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


def test_summary_says_which_model_was_published_and_why():
    doc = {**PLAYLISTS, "model": "baseline", "model_reason": "auto: the baseline has the better"}
    text = render_summary(doc, OFFLINE, AB)
    assert "  published baseline: auto: the baseline has the better" in text.splitlines()
