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
    assert "+16.5%" in text and "\n  never" not in text  # only the policies present
    assert "ROC AUC: 0.5 = chance, 1 = perfect" in text
    assert "bayes" not in text  # no Bayes-optimal model on a real dump: no word of it


def test_cache_costs_have_their_unit_and_the_share_its_definition():
    """Issue: 'never cost 84.24 share -164.8%' had no unit and no definition."""
    cache = {
        **CACHE,
        "weeks": 6,
        "plays": 1000,
        "never": {"cost": 84.24, "weekly_cost": 14.04, "share_of_oracle_saving": -1.648},
        "listener_rate": {"cost": 58.01, "share_of_oracle_saving": -0.0003},
        "bayes": {"cost": 55.5, "weekly_cost": 9.25, "share_of_oracle_saving": 0.2},
    }
    lines = summary_lines(None, cache)
    text = "\n".join(lines)
    assert "  never               84.24     14.04  -164.8%  stream every play" in lines
    assert "  listener_rate       58.01         —     0.0%" in lines  # not "-0.0%"
    assert "  always              58.00         —     0.0%  fetch every track" in lines
    assert "cost: currency units" in text and "total over the 6 weeks" in text
    assert (
        "share: of the oracle's saving = (cost of always fetching − the policy's cost) /\n"
        "  (cost of always fetching − the oracle's cost)"
    ) in text
    bayes = next(line for line in lines if line.startswith("  bayes "))
    assert "Bayes-optimal: the synthetic world's true P(skip) (synthetic data only)" in bayes
    assert lines.index(bayes) < next(i for i, x in enumerate(lines) if x.startswith("  oracle"))


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
