"""The skips block of `pozytywka summary` and of the pull-request report."""

from __future__ import annotations

from pozytywka.commands.summary import render_summary
from pozytywka.skips.report import pr_section, summary_lines

SKIPS = {
    "weeks_evaluated": 6,
    "plays_evaluated": 1000,
    **{
        m: {"roc_auc": a, "roc_auc_ci_low": a - 0.01, "roc_auc_ci_high": a + 0.01, "log_loss": 0.5}
        for m, a in (
            ("genre_rule", 0.58),
            ("previous_outcome", 0.52),
            ("listener_rate", 0.56),
            ("catboost", 0.8),
        )
    },
}
CACHE = {
    "always": {"cost": 58.0, "share_of_oracle_saving": 0.0},
    "catboost": {"cost": 56.0, "share_of_oracle_saving": 0.165, "wasted_bytes": 9.4e10},
    "oracle": {"cost": 45.75, "share_of_oracle_saving": 1.0},
}


def test_summary_lines():
    text = "\n".join(summary_lines(SKIPS, CACHE))
    assert "Skip prediction over 6 weeks, 1000 plays" in text
    assert "catboost" in text and "0.800 [0.790, 0.810]" in text
    assert "+16.5%" in text and "never" not in text  # only the policies present


def test_summary_names_the_missing_stage():
    text = render_summary(None, None, None, skips=SKIPS, cache=None)
    assert "run `dvc repro skips_cache`" in text
    assert "Skip prediction" not in render_summary(None, None, None)


def test_pr_section_before_after():
    after = {**SKIPS, "catboost": {**SKIPS["catboost"], "roc_auc": 0.81}}
    md = pr_section(SKIPS, after, CACHE, CACHE)
    assert "0.8000 → 0.8100 (+0.0100)" in md
    assert "### Cache simulation" in md and "| catboost |" in md
    assert "94.0" in md  # wasted GB
    assert pr_section(None, None, None, None) == ""
