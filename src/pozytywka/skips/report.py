"""The skips product in the summary and the pull-request report (issue 14, item 8).

Reads only ``metrics/skips.json`` and ``metrics/cache.json`` (DESIGN §6) as dicts;
no I/O here, so tests feed dictionaries.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..markdown import MISSING, fmt_delta, fmt_value, table
from .evaluate import MODELS

Doc = Mapping[str, Any] | None
BAYES = "bayes"  # the Bayes-optimal model (pozytywka.skips.ceiling): synthetic data only
POLICIES = ("never", "always", *MODELS, BAYES, "oracle")
# what the fixed policies and the ceiling do, in words (the models' names are their own)
POLICY_WORDS = {
    "never": "stream every play",
    "always": "fetch every track",
    BAYES: "Bayes-optimal: the synthetic world's true P(skip) (synthetic data only)",
    "oracle": "fetch exactly the plays that will be played to the end",
}
HEADLINE = (("roc_auc", "ROC AUC"), ("log_loss", "log loss"), ("accuracy", "accuracy"))


def _num(section: Doc, key: str) -> float | None:
    value = (section or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _with_ci(section: Doc, key: str) -> str:
    value = _num(section, key)
    if value is None:
        return MISSING
    low, high = _num(section, f"{key}_ci_low"), _num(section, f"{key}_ci_high")
    ci = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{value:.3f}{ci}"


def _share(value: float | None) -> str:
    """A share of the oracle's saving as a signed percent ("0.0%" when it rounds to 0)."""
    if value is None:
        return MISSING
    return "0.0%" if round(value * 1000) == 0 else f"{value:+.1%}"


def summary_lines(skips: Doc, cache: Doc) -> list[str]:
    """About twenty lines for ``pozytywka summary``: the models' metrics and the cache
    costs, each table with a line on what its numbers mean and their unit."""
    lines = []
    if skips is None:
        lines += [
            "Skip prediction",
            "  metrics/skips.json is missing: run `dvc repro skips_evaluate`",
        ]
    else:
        lines.append(
            f"Skip prediction over {skips.get('weeks_evaluated', '?')} weeks, "
            f"{skips.get('plays_evaluated', '?')} plays (mean [95% CI across weeks])"
        )
        header = f"  {'model':<18}" + "".join(f"{label:<24}" for _, label in HEADLINE)
        lines.append(header.rstrip())
        for model in MODELS:
            cells = "".join(f"{_with_ci(skips.get(model), k):<24}" for k, _ in HEADLINE)
            lines.append(f"  {model:<18}{cells}".rstrip())
        lines += [
            "  ROC AUC: 0.5 = chance, 1 = perfect; log loss (of P(skip)): lower is better;",
            "  accuracy: share of plays called right at the threshold chosen on validation weeks",
        ]
        if skips.get("verdict"):
            lines.append(f"  CatBoost: {skips['verdict']}")
        cat = skips.get("catboost") or {}
        if _num(cat, "session_accuracy") is not None:
            lines.append(
                "  second half of each session (Brost et al. 2019): mean accuracy "
                f"{_with_ci(cat, 'session_accuracy')}, first play "
                f"{_with_ci(cat, 'first_play_accuracy')}, AA {_with_ci(cat, 'average_accuracy')}"
            )
    lines.append("")
    if cache is None:
        lines += ["Cache", "  metrics/cache.json is missing: run `dvc repro skips_cache`"]
        return lines
    weeks = cache.get("weeks", "?")
    lines += [
        f"Cache simulation over {weeks} weeks, {cache.get('plays', '?')} plays: fetch each "
        "track whole ahead, or stream it",
        f"  {'policy':<18}{'cost':>7}{'per week':>10}{'share':>9}  what it does",
    ]
    for policy in POLICIES:
        section = cache.get(policy)
        if section is None:
            continue
        row = (
            f"  {policy:<18}{fmt_value(_num(section, 'cost'), 2):>7}"
            f"{fmt_value(_num(section, 'weekly_cost'), 2):>10}"
            f"{_share(_num(section, 'share_of_oracle_saving')):>9}  {POLICY_WORDS.get(policy, '')}"
        )
        lines.append(row.rstrip())
    server = cache.get("server") or {}
    if server.get("recommended"):
        lines.append(
            f"  server cache: run {server['recommended']} (best byte hit ratio on the "
            "validation weeks, before the replayed ones)"
        )
        lines += [f"  {note}" for note in server.get("skip_awareness", [])]
    lines += [
        f"  {MODELS[0]} .. {MODELS[-1]}: the skip models, each streaming a play when its "
        "P(skip) >= a threshold",
        "  chosen on validation weeks",
        "  cost: currency units (the skips.cache prices of GB delivered and of slow deliveries),",
        f"  total over the {weeks} weeks; per week: the mean of the weeks",
        "  share: of the oracle's saving = (cost of always fetching − the policy's cost) /",
        "  (cost of always fetching − the oracle's cost), mean of the weeks; 100% = the oracle, "
        "below 0 = worse than always fetching",
    ]
    return lines


def _change(before: float | None, after: float | None, digits: int = 4) -> str:
    if after is None:
        return MISSING
    if before is None:
        return f"{fmt_value(after, digits)} (new)"
    delta = fmt_delta(after - before, digits)
    return f"{fmt_value(before, digits)} → {fmt_value(after, digits)} ({delta})"


def pr_section(before_skips: Doc, after_skips: Doc, before_cache: Doc, after_cache: Doc) -> str:
    """Markdown: metrics per model (base → this PR) and the cost table per policy."""
    if after_skips is None and after_cache is None and before_skips is None:
        return ""
    rows = []
    for model in MODELS:
        for key, label in HEADLINE:
            rows.append(
                [
                    model if key == "roc_auc" else "",
                    label,
                    _change(
                        _num((before_skips or {}).get(model), key),
                        _num((after_skips or {}).get(model), key),
                    ),
                ]
            )
    cost_rows = []
    for policy in POLICIES:
        a = (after_cache or {}).get(policy)
        if a is None:
            continue
        b = (before_cache or {}).get(policy)
        cost_rows.append(
            [
                policy,
                _change(_num(b, "cost"), _num(a, "cost"), 2),
                f"{(_num(a, 'wasted_bytes') or 0) / 1e9:.1f}",
                fmt_value(_num(a, "slow_deliveries"), 0),
                _with_ci(a, "share_of_oracle_saving"),
            ]
        )
    parts = [
        "### Skip prediction (rolling weeks)",
        "",
        table(["model", "metric", "base → this PR"], rows, "llr"),
    ]
    if cost_rows:
        parts += [
            "",
            "### Cache simulation",
            "",
            table(
                [
                    "policy",
                    "cost (base → this PR)",
                    "wasted GB",
                    "slow deliveries",
                    "share of oracle's saving",
                ],
                cost_rows,
                "lrrrr",
            ),
        ]
    return "\n".join(parts)
