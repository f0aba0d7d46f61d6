"""``pozytywka traffic`` faults a newcomer found: counts, the 401 line, sparse skips weeks."""

from __future__ import annotations

import argparse
import datetime as dt

import pandas as pd
import pytest

from pozytywka.commands.traffic import positive_int
from pozytywka.serve.traffic_skips import fewer_listeners_line, playing_listeners


@pytest.mark.parametrize("count", ["-3", "0"])
@pytest.mark.parametrize("command", [["traffic"], ["traffic", "--product", "skips"], ["ab-live"]])
def test_a_non_positive_listener_count_is_refused_before_anything_runs(command, count, capsys):
    from pozytywka.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*command, "--listeners", count])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].endswith(
        f"argument --listeners: {count} is not a positive count (at least 1)"
    ), err


def test_positive_int_takes_whole_numbers_from_one():
    assert positive_int("1") == 1 and positive_int("50") == 50
    for bad in ("0", "-3", "2.5", "many"):
        with pytest.raises(argparse.ArgumentTypeError):
            positive_int(bad)


def _events(rows):
    return pd.DataFrame(rows, columns=["user_id", "session_id", "track_id", "event_type"])


def test_playing_listeners_are_the_first_in_world_order_who_play():
    ev = _events(
        [
            ("4", "s1", "t1", "play"),
            ("2", "s2", "t2", "like"),  # no play: not a player
            ("3", None, "t3", "play"),  # a play without a session is not judged
            ("5", "s4", "t4", "play"),
            ("1", "s5", "t5", "skip"),
            ("1", "s5", "t6", "play"),
        ]
    )
    world = ["1", "2", "3", "4", "5", "6"]
    assert playing_listeners(world, ev, 2) == ["1", "4"]
    assert playing_listeners(world, ev, 50) == ["1", "4", "5"]  # the week has 3
    assert playing_listeners(world, ev, None) == ["1", "4", "5"]


def test_fewer_listeners_than_asked_is_said_with_why():
    week = dt.date(2024, 7, 29)
    assert fewer_listeners_line(50, 50, 100, week) == ""
    assert fewer_listeners_line(None, 3, 100, week) == ""
    assert fewer_listeners_line(50, 3, 11654, week) == (
        "skips: 50 listeners asked, 3 played: only 3 of the world's 11654 listeners play "
        "in the week of 2024-07-29 (the behaviour model's week is sparse)"
    )
