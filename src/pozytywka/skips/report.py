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
POLICIES = ("never", "always", *MODELS, "bayes", "oracle")  # bayes: synthetic data only
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


def summary_lines(skips: Doc, cache: Doc) -> list[str]:
    """A dozen lines for ``pozytywka summary``: the models' metrics and the cache costs."""
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
    if cache is None:
        lines += ["Cache", "  metrics/cache.json is missing: run `dvc repro skips_cache`"]
    else:
        lines.append(
            "Cache simulation (cost over the evaluated weeks; share of the oracle's saving)"
        )
        for policy in POLICIES:
            section = cache.get(policy)
            if section is None:
                continue
            cost = _num(section, "cost")
            share = _num(section, "share_of_oracle_saving")
            lines.append(
                f"  {policy:<18}cost {fmt_value(cost, 2):>10}   share "
                + (f"{share:+.1%}" if share is not None else MISSING)
            )
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
