"""The ab_test and playlists stages on tiny inputs: files, schema, recomputation, determinism."""

from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from ab_fakes import FakeWorld, fake_simulate_week, replay_world
from pozytywka import paths
from pozytywka.config import DataParams, Params, PlaylistParams
from pozytywka.errors import PozytywkaError
from pozytywka.io import write_json

USERS = [f"u{i:04d}" for i in range(600)]
QUALITY = {f"t{i:02d}": 0.5 + 0.006 * i for i in range(60)}


def _doc(model: str, tracks: list[str]) -> dict:
    return {
        "week_start": "2024-07-29",
        "model": model,
        "playlists": [
            {
                "genre": "g",
                "tracks": [{"track_id": t, "name": t, "artist": "x", "score": 1.0} for t in tracks],
            }
        ],
        "skipped": [],
    }


def _history(users: list[str]) -> pd.DataFrame:
    """Three complete weeks before the A/B week (2024-07-29): each user plays 4 tracks a
    week and skips some (odd users more), plus events the pre-period must leave out."""
    rng = np.random.default_rng(11)
    rows = []
    for week in (
        pd.Timestamp("2024-07-08"),
        pd.Timestamp("2024-07-15"),
        pd.Timestamp("2024-07-22"),
    ):
        for k, u in enumerate(users):
            for j in range(4):
                ts = week + pd.Timedelta(minutes=int(rng.integers(0, 10000)))
                sid = f"{u}-{week.date()}-{j}"
                rows.append((sid, ts, u, f"t{j:02d}", "play", len(rows)))
                if rng.random() < 0.2 + 0.3 * (k % 2):
                    rows.append((sid, ts + pd.Timedelta("5s"), u, f"t{j:02d}", "skip", len(rows)))
    # Outside the pre-period: the partial week before (the log starts on its Sunday) and
    # the A/B week itself.
    rows.append(("early", pd.Timestamp("2024-07-07 22:00"), users[1], "t00", "play", len(rows)))
    rows.append(("late", pd.Timestamp("2024-07-29 10:00"), users[0], "t00", "play", len(rows)))
    return pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type", "row_number"]
    )


@pytest.fixture
def synthetic_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fake = types.ModuleType("pozytywka.synthetic")
    fake.build_world = lambda params: FakeWorld(USERS, QUALITY)
    fake.simulate_week = fake_simulate_week
    monkeypatch.setitem(sys.modules, "pozytywka.synthetic", fake)
    paths.INTERIM.mkdir(parents=True)
    favourites = [["g"] if i % 3 == 0 else ["other"] for i in range(len(USERS))]
    pd.DataFrame({"user_id": USERS, "favourite_genres": favourites}).to_parquet(paths.INTERIM_USERS)
    _history(USERS).to_parquet(paths.INTERIM_SESSIONS)
    write_json(
        paths.PLAYLISTS_BY_MODEL / "baseline.json",
        _doc("baseline", [f"t{i:02d}" for i in range(20)]),
    )
    write_json(
        paths.PLAYLISTS_BY_MODEL / "catboost.json",
        _doc("catboost", [f"t{i:02d}" for i in range(40, 60)]),
    )
    return tmp_path


def _outputs(root: Path) -> dict[str, bytes]:
    files = [paths.AB_METRICS, *sorted(paths.AB_REPORTS.iterdir())]
    return {str(f): (root / f).read_bytes() for f in files}


def test_ab_stage_simulation_outputs_recompute_and_repeat(synthetic_project):
    from pozytywka.stages import ab_test

    params = Params()
    ab_test.run(params)
    first = _outputs(synthetic_project)
    m = json.loads(paths.AB_METRICS.read_text())
    # DESIGN §6 keys
    assert set(m["arms"]) == {"A", "B"}
    for arm in m["arms"].values():
        assert set(arm) == {"users", "play_through_rate", "likes_per_user", "skips_per_user"}
    for key in ("metric", "lift", "ci_low", "ci_high", "p_value", "srm_p_value", "mde"):
        assert key in m
    assert m["metric"] == "play_through_rate" and m["mode"] == "simulation"
    assert "NaN" not in paths.AB_METRICS.read_text()

    # Recompute everything from outcomes.csv with scipy.
    o = pd.read_csv(paths.AB_OUTCOMES)
    # The required columns first, then the pre-experiment covariates of CUPED.
    assert list(o.columns) == [
        "user_id",
        "arm",
        "plays",
        "full_plays",
        "skips",
        "likes",
        "sessions",
        "pre_plays",
        "pre_full_plays",
        "fav_on_shelf",
    ]
    assert (o["pre_plays"] == 12).all()  # 3 complete weeks x 4 plays; the partial week left out
    assert o["fav_on_shelf"].tolist() == [int(i % 3 == 0) for i in range(len(USERS))]
    assert o["user_id"].tolist() == sorted(o["user_id"])
    assert len(o) == len(USERS)
    # The global holdout (5%, its own salt): simulated, reported apart, out of A vs B.
    held = o[o["arm"] == "H"]
    assert m["holdout"]["users"] == len(held) > 0 and m["holdout"]["share"] == 0.05
    ptr_h = (held["full_plays"] / held["plays"])[held["plays"] > 0].mean()
    assert m["holdout"]["play_through_rate"] == pytest.approx(ptr_h, abs=1e-6)
    o = o[o["arm"] != "H"]
    ptr = {a: (g["full_plays"] / g["plays"])[g["plays"] > 0] for a, g in o.groupby("arm")}
    ma, mb = ptr["A"].mean(), ptr["B"].mean()
    assert m["arms"]["A"]["users"] == int((o["arm"] == "A").sum())
    assert m["arms"]["A"]["play_through_rate"] == pytest.approx(ma, abs=1e-6)
    assert m["arms"]["B"]["play_through_rate"] == pytest.approx(mb, abs=1e-6)
    for arm in "AB":
        g = o[o["arm"] == arm]
        assert m["arms"][arm]["likes_per_user"] == pytest.approx(g["likes"].mean(), abs=1e-6)
        assert m["arms"][arm]["skips_per_user"] == pytest.approx(g["skips"].mean(), abs=1e-6)
    assert m["lift"] == pytest.approx(mb / ma - 1, abs=1e-6)
    # The lift's interval and test: the delta method on log(mB / mA) (stats.py).
    se = math.sqrt(
        ptr["B"].var() / (len(ptr["B"]) * mb**2) + ptr["A"].var() / (len(ptr["A"]) * ma**2)
    )
    z = stats.norm.ppf(0.975)
    assert m["lift_defined"] is True and m["test"] == "log_ratio_z"
    assert m["p_value"] == pytest.approx(2 * stats.norm.sf(abs(math.log(mb / ma)) / se), rel=1e-5)
    assert m["ci_low"] == pytest.approx(mb / ma * math.exp(-z * se) - 1, abs=1e-6)
    assert m["ci_high"] == pytest.approx(mb / ma * math.exp(z * se) - 1, abs=1e-6)
    welch = stats.ttest_ind(ptr["B"], ptr["A"], equal_var=False)
    assert m["abs_p_value"] == pytest.approx(welch.pvalue, rel=1e-5)
    assert m["abs_ci_low"] == pytest.approx(welch.confidence_interval().low, abs=1e-6)
    n = o["arm"].value_counts()
    srm = stats.chisquare([n["A"], n["B"]], [len(o) / 2, len(o) / 2]).pvalue
    assert m["srm_p_value"] == pytest.approx(srm, rel=1e-5)
    mde = (
        (stats.norm.ppf(0.975) + stats.norm.ppf(0.8))
        * math.sqrt(ptr["A"].var() / len(ptr["A"]) + ptr["B"].var() / len(ptr["B"]))
        / ma
    )
    assert m["mde"] == pytest.approx(mde, abs=1e-6)
    # CUPED, recomputed: pooled OLS slopes on the centred covariates, then Welch again.
    users = o[o["plays"] > 0]
    y = (users["full_plays"] / users["plays"]).to_numpy()
    x = np.column_stack(
        [users["pre_full_plays"] / users["pre_plays"], users["fav_on_shelf"]]
    ).astype(float)
    xc = x - x.mean(axis=0)
    theta = np.linalg.lstsq(xc, y - y.mean(), rcond=None)[0]
    adj = pd.Series(y - xc @ theta, index=users.index)
    ya, yb = adj[users["arm"] == "A"], adj[users["arm"] == "B"]
    c = m["cuped"]
    assert c["covariates"] == ["pre_play_through_rate", "fav_on_shelf"]
    assert c["theta"] == pytest.approx(theta.tolist(), abs=1e-6)
    assert c["lift"] == pytest.approx(yb.mean() / ya.mean() - 1, abs=1e-6)
    p = stats.ttest_ind(yb, ya, equal_var=False).pvalue
    assert c["abs_p_value"] == pytest.approx(p, rel=1e-5)
    assert c["variance_reduction"] == pytest.approx(1 - adj.var(ddof=1) / y.var(ddof=1), abs=1e-6)
    assert "CUPED" in paths.AB_SUMMARY.read_text()
    # B serves better tracks (0.74..0.85 vs 0.5..0.61): a clear win.
    assert m["decision"] == "ship B"

    seq = pd.read_csv(paths.AB_REPORTS / "sequential.csv")
    assert seq["day"].tolist() == list(range(1, 8))
    assert seq["lift"].iloc[-1] == pytest.approx(m["lift"], abs=1e-6)
    assert (seq["users_a"].diff().dropna() >= 0).all()
    for png in ("arms.png", "sequential.png"):
        assert (paths.AB_REPORTS / png).read_bytes()[:4] == b"\x89PNG"
    summary = paths.AB_SUMMARY.read_text()
    assert "Decision: ship B" in summary

    ab_test.run(params)  # a rerun writes the same bytes
    assert _outputs(synthetic_project) == first


def _write_catalogue(tracks: pd.DataFrame, track_genres: pd.DataFrame) -> None:
    """The interim tracks, artists and track_genres tables of ``replay_world``."""
    paths.INTERIM.mkdir(parents=True)
    paths.PROCESSED.mkdir(parents=True)
    tracks.drop(columns="artist").to_parquet(paths.INTERIM_TRACKS)
    pd.DataFrame({"artist_id": tracks["artist_id"], "name": tracks["artist"]}).to_parquet(
        paths.INTERIM_ARTISTS
    )
    track_genres.to_parquet(paths.INTERIM_TRACK_GENRES)


REPLAY_PARAMS = replace(
    Params(),
    data=DataParams(source="some/real/dump"),
    playlists=PlaylistParams(n_genres=1, min_size=10, max_size=10, max_per_artist=1),
)


def _replay_project(tmp_path, monkeypatch, n_users: int) -> list[str]:
    """A real-dump project in ``tmp_path`` (``replay_world``'s catalogue and backtest,
    ``n_users`` users, no sessions yet); returns the user ids."""
    monkeypatch.chdir(tmp_path)
    tracks, tg, bt = replay_world()
    _write_catalogue(tracks, tg)
    bt.to_parquet(paths.BACKTEST_PREDICTIONS)
    users = [f"u{i:03d}" for i in range(n_users)]
    pd.DataFrame({"user_id": users}).to_parquet(paths.INTERIM_USERS)
    return users


def test_ab_stage_replay_on_a_real_dump(tmp_path, monkeypatch):
    from pozytywka.stages import ab_test

    users = _replay_project(tmp_path, monkeypatch, 200)
    rng = np.random.default_rng(0)
    rows = []
    for k, u in enumerate(users):
        for _ in range(6):
            tid = f"t{rng.integers(0, 24):02d}"
            ts = pd.Timestamp("2024-07-29") + pd.Timedelta(minutes=int(rng.integers(0, 10000)))
            rows.append((f"s{k}", ts, u, tid, "play", len(rows)))
            if rng.random() < float(tid[1:]) / 30:  # later tracks are skipped more
                rows.append((f"s{k}", ts + pd.Timedelta("5s"), u, tid, "skip", len(rows)))
    pd.DataFrame(
        rows, columns=["session_id", "timestamp", "user_id", "track_id", "event_type", "row_number"]
    ).to_parquet(paths.INTERIM_SESSIONS)
    ab_test.run(REPLAY_PARAMS)
    m = json.loads(paths.AB_METRICS.read_text())
    assert m["mode"] == "replay"
    # Arm B (CatBoost) served the later, more-skipped tracks: B looks worse.
    assert m["lift"] < 0
    assert "estimate, not an experiment" in paths.AB_SUMMARY.read_text()


def test_replay_with_one_listener_per_arm_says_why_and_draws_a_message(tmp_path, monkeypatch):
    """Issue 9 item 9: a sparse real dump, 1 user per arm played a served track."""
    from pozytywka.experiment.assign import assign_arms
    from pozytywka.experiment.report import too_few_users_message
    from pozytywka.stages import ab_test

    users = _replay_project(tmp_path, monkeypatch, 40)
    arms = assign_arms(users, Params().ab.salt, Params().ab.split)
    listeners = [arms.loc[arms["arm"] == arm, "user_id"].iloc[0] for arm in "AB"]
    rows = [
        (f"s{u}", pd.Timestamp("2024-07-29 10:00") + pd.Timedelta(minutes=4 * t), u, f"t{t:02d}")
        for u in listeners
        for t in range(24)  # every track: whatever the arm serves, it is played
    ]
    sessions = pd.DataFrame(rows, columns=["session_id", "timestamp", "user_id", "track_id"])
    sessions["event_type"] = "play"
    sessions["row_number"] = range(len(sessions))
    sessions.to_parquet(paths.INTERIM_SESSIONS)
    ab_test.run(REPLAY_PARAMS)
    m = json.loads(paths.AB_METRICS.read_text())
    assert m["mode"] == "replay" and m["decision"] == "inconclusive"
    assert m["users_with_plays"] == {"A": 1, "B": 1}
    assert m["reason"].startswith("only 1 user in arm A and 1 user in arm B played a served track")
    assert m["mode_note"].startswith("replay estimate, not an experiment")
    summary = paths.AB_SUMMARY.read_text()
    assert summary.startswith("# A/B replay estimate")
    assert "1 user in arm A and 1 user in arm B played a served track" in summary
    seq = pd.read_csv(paths.AB_REPORTS / "sequential.csv")
    assert too_few_users_message(seq).startswith(
        "Too few users to draw the lift: 1 in arm A and 1 in arm B"
    )


def test_sequential_figure_draws_a_message_or_the_lift():
    from pozytywka.experiment.report import sequential_figure

    few = pd.DataFrame(
        {"day": [1, 7], "users_a": [0, 1], "users_b": [1, 1], "lift": [None, None]}
        | {"ci_low": [None, None], "ci_high": [None, None]}
    )
    ax = sequential_figure(few, 0.95).axes[0]
    assert [t.get_text() for t in ax.texts] == [
        "Too few users to draw the lift: 1 in arm A and 1 in arm B with counted plays by "
        "day 7 (fewer than 10 in an arm)"
    ]
    assert not ax.lines
    enough = pd.DataFrame(
        {"day": [1, 2], "users_a": [30, 60], "users_b": [31, 59], "lift": [0.1, 0.05]}
        | {"ci_low": [-0.2, -0.1], "ci_high": [0.4, 0.2]}
    )
    ax = sequential_figure(enough, 0.95).axes[0]
    assert not ax.texts and ax.lines


def test_playlists_stage_writes_both_arms(tmp_path, monkeypatch):
    from pozytywka.playlists.models import scoring
    from pozytywka.stages import playlists as stage

    monkeypatch.chdir(tmp_path)
    tracks, tg, _ = replay_world()
    _write_catalogue(tracks, tg)
    feats = pd.DataFrame(
        {
            "week_start": pd.Timestamp("2024-07-22"),
            "track_id": tracks["track_id"],
            "is_prediction_week": True,
        }
    )
    old = feats.assign(week_start=pd.Timestamp("2024-07-15"), is_prediction_week=False)
    pd.concat([old, feats]).to_parquet(paths.FEATURES)

    def fake_score_week(model, rows, models_dir):
        assert rows["is_prediction_week"].all()
        i = rows["track_id"].str[1:].astype(int)
        score = (24 - i) if model == "baseline" else i
        return pd.DataFrame({"track_id": rows["track_id"], "score": score.astype(float)})

    monkeypatch.setattr(scoring, "score_week", fake_score_week)
    # playlists.model auto (the default) publishes the better backtest NDCG: none yet.
    with pytest.raises(PozytywkaError, match="metrics/offline.json not found"):
        stage.run(Params())

    def offline(base: float, cat: float) -> None:
        paths.OFFLINE_METRICS.parent.mkdir(parents=True, exist_ok=True)
        doc = {"k": 10, "baseline": {"ndcg_at_k": base}, "catboost": {"ndcg_at_k": cat}}
        paths.OFFLINE_METRICS.write_text(json.dumps(doc))

    offline(0.4, 0.7)
    stage.run(Params())
    doc = json.loads(paths.PLAYLISTS_JSON.read_text())
    assert doc["week_start"] == "2024-07-29" and doc["model"] == "catboost"
    assert doc["model_reason"].startswith("auto: CatBoost has the better backtest NDCG@10 0.7000")
    assert set(doc) >= {"week_start", "model", "playlists"}
    tr = doc["playlists"][0]["tracks"]
    assert len(tr) == 20 and tr[0]["track_id"] == "t23" and tr[0]["artist"] == "A23"
    base = json.loads((paths.PLAYLISTS_BY_MODEL / "baseline.json").read_text())
    assert base["playlists"][0]["tracks"][0]["track_id"] == "t00"
    metrics = json.loads(paths.PLAYLIST_METRICS.read_text())
    assert metrics["n_playlists"] == 1 and metrics["n_tracks"] == 20
    assert metrics["track_jaccard_baseline_catboost"] == pytest.approx(16 / 24, abs=1e-6)
    assert "# Pozytywka popular playlists, week of 2024-07-29" in paths.PLAYLISTS_MD.read_text()
    # CatBoost loses its backtest: the baseline's playlists are published, and said why.
    offline(0.7, 0.4)
    stage.run(Params())
    doc = json.loads(paths.PLAYLISTS_JSON.read_text())
    assert doc["model"] == "baseline" and doc["playlists"] == base["playlists"]
    assert "the baseline has the better backtest NDCG@10" in paths.PLAYLISTS_MD.read_text()
    assert json.loads(paths.PLAYLIST_METRICS.read_text())["model"] == "baseline"


def test_playlists_stage_summarises_skipped_genres(tmp_path, monkeypatch, caplog):
    """Issue 9 item 10: one warning per skipped genre and model became one line per model,
    with counts by reason and the first few names; the full list goes to a CSV."""
    from pozytywka.playlists.models import scoring
    from pozytywka.stages import playlists as stage

    monkeypatch.chdir(tmp_path)
    tracks, tg, _ = replay_world()
    micro = pd.DataFrame({"track_id": [f"t{i:02d}" for i in range(8)]})
    micro["genre"] = [f"micro {i}" for i in range(8)]  # one track each: cannot fill 10
    _write_catalogue(tracks, pd.concat([tg, micro], ignore_index=True))
    pd.DataFrame(
        {"week_start": pd.Timestamp("2024-07-22"), "track_id": tracks["track_id"]}
        | {"is_prediction_week": True}
    ).to_parquet(paths.FEATURES)

    def fake_score_week(model, rows, models_dir):
        return pd.DataFrame({"track_id": rows["track_id"], "score": 1.0})

    monkeypatch.setattr(scoring, "score_week", fake_score_week)
    params = Params()  # a fixed model: auto would need a backtest's metrics/offline.json
    params = replace(params, playlists=replace(params.playlists, model="catboost"))
    with caplog.at_level("WARNING"):
        stage.run(params)
    lines = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert lines == [
        f"{model}: 8 genres skipped (8 only 1 eligible tracks (min_size 10)): micro 0, micro 1, "
        "micro 2, micro 3, micro 4 and 3 more; full list in reports/playlists/skipped_genres.csv"
        for model in ("baseline", "catboost")
    ]
    table = pd.read_csv(paths.PLAYLISTS_SKIPPED)
    assert list(table.columns) == stage.SKIPPED_COLUMNS
    assert len(table) == 16 and set(table["model"]) == {"baseline", "catboost"}
    assert set(table["genre"]) == {f"micro {i}" for i in range(8)}
    assert (table["reason"] == "only 1 eligible tracks (min_size 10)").all()


def test_the_real_simulator_plays_the_served_playlists():
    """Integration with ``pozytywka.synthetic`` (small world): playlist events appear, are
    counted, and the same seed gives the same week."""
    synthetic = pytest.importorskip("pozytywka.synthetic")
    from pozytywka.config import SyntheticParams
    from pozytywka.experiment.assign import assign_arms
    from pozytywka.experiment.outcomes import user_outcomes
    from pozytywka.experiment.simulate import counted_events, simulate_ab_week
    from pozytywka.experiment.stats import analyse

    syn = SyntheticParams(users=300, artists=60, genres=6, weeks=8)
    world = synthetic.build_world(syn)
    assignment = assign_arms(world.user_ids.astype(str), "s", 0.5)
    genre = world.track_genres[:, 0]
    lists = [world.track_ids[genre == g][:15].astype(str).tolist() for g in range(3)]
    served = {"A": lists, "B": lists[::-1]}
    events = simulate_ab_week(world, syn.weeks, assignment, served, seed=1)
    again = simulate_ab_week(world, syn.weeks, assignment, served, seed=1)
    pd.testing.assert_frame_equal(events, again)
    counted = counted_events(events, assignment, served)
    assert counted.any()
    served_tracks = {t for p in lists for t in p}
    assert set(events.loc[counted, "track_id"]) <= served_tracks
    outcomes = user_outcomes(events, assignment, counted)
    assert outcomes["plays"].sum() == int((events.loc[counted, "event_type"] == "play").sum())
    m = analyse(outcomes, Params().ab, "simulation")
    assert m["arms"]["A"]["users"] + m["arms"]["B"]["users"] == len(assignment)  # + sign-ups
