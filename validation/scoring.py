"""Scoring a campaign: does ±U cover the truth as often as claimed, and how often is a verdict wrong?

Three questions per (scenario, metric), each answered with a binomial interval so a campaign of a few
hundred rigs says what it can prove and no more:

* **Coverage** — the fraction of rigs with |value − truth| ≤ U, against the coverage probability the
  result claims (95.45 % for k = 2 and for a Student-t k at 95.45 %; JCGM 100:2008 §6.2, G.1.3), with a
  two-sided 95 % Clopper–Pearson interval (exact binomial). Bias and spread of z = (value − truth)/u
  show *why* it misses (mean z ≠ 0: biased estimator; rms z > 1: u too small).
* **Decision risk** — per verdict metric, PASS while the truth is beyond the limit (a false accept, the
  consumer's risk of JCGM 106:2012 §9.5) and FAIL while the truth is within it (a false reject, the
  producer's risk), and the INCONCLUSIVE rate of a guarded rule (ISO 14253-1:2017 §5–6).
* **Operating characteristic** — P(PASS) against truth/limit in bins: the curve a decision rule trades
  along; with a guarded rule it must reach 0 before truth/limit = 1.

A task that faulted or lacks a scored metric is a row with ``error`` set and counts as a miss.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy import stats

#: Coverage probability of k = 2 with a normal distribution (GUM G.1.3); also what a Student-t k claims.
CLAIM_K2 = 0.9545
#: Confidence level of the binomial intervals on campaign rates.
CONFIDENCE = 0.95
#: Bin edges of truth/limit for the operating characteristic (the last bin is open above).
OC_EDGES: tuple[float, ...] = (*(round(0.1 * i, 1) for i in range(21)), math.inf)


def clopper_pearson(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """Exact two-sided binomial interval (Clopper & Pearson, Biometrika 26:404, 1934) for x of n."""
    if n <= 0:
        return (0.0, 1.0)
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be within 0..{n}, got {successes}")
    alpha = 1.0 - confidence
    low = 0.0 if successes == 0 else float(stats.beta.ppf(alpha / 2, successes, n - successes + 1))
    high = 1.0 if successes == n else float(stats.beta.ppf(1 - alpha / 2, successes + 1, n - successes))
    return low, high


def claimed_coverage(k: float | None) -> float:
    """The coverage probability a coverage factor claims: 95.45 % for k ≥ 2 (normal k = 2 or a Student-t
    factor at 95.45 %), 2Φ(k) − 1 for a smaller normal k."""
    if k is None or not math.isfinite(k) or k >= 2.0:
        return CLAIM_K2
    return float(2 * stats.norm.cdf(k) - 1)


class CoverageScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario: str
    metric: str
    unit: str | None
    n: int
    errors: int
    covered: int
    coverage: float
    coverage_low: float
    coverage_high: float
    claim: float
    z_bias: float | None
    z_rms: float | None
    mean_U: float | None

    @property
    def ok(self) -> bool:
        """The claim is not refuted: the upper confidence bound of coverage reaches it."""
        return self.coverage_high >= self.claim


class RiskScore(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario: str
    metric: str
    limit: float
    rule: str | None
    n: int
    errors: int
    passed: int
    failed: int
    inconclusive: int
    nonconforming: int
    false_accepts: int
    false_rejects: int
    false_accept_rate: float
    false_accept_low: float
    false_accept_high: float
    false_reject_rate: float
    false_reject_low: float
    false_reject_high: float
    inconclusive_rate: float
    inconclusive_low: float
    inconclusive_high: float


class OcBin(BaseModel):
    model_config = ConfigDict(frozen=True)

    scenario: str
    metric: str
    low: float
    high: float
    n: int
    passed: int
    p_pass: float
    p_pass_low: float
    p_pass_high: float


class Scores(BaseModel):
    """Everything scored from one campaign table."""

    coverage: list[CoverageScore]
    risk: list[RiskScore]
    oc: list[OcBin]
    tasks: int
    errored_tasks: int


class Gate(BaseModel):
    """CI's verdict on a campaign: every claim holds, no false accept, no task errored."""

    passed: bool
    reasons: list[str]


def _rate(x: int, n: int) -> tuple[float, float, float]:
    low, high = clopper_pearson(x, n)
    return (x / n if n else math.nan), low, high


def _valid(frame: pd.DataFrame) -> pd.Series:
    return frame["error"].isna() & frame["value"].notna() & frame["U"].notna()


def score_coverage(table: pd.DataFrame) -> list[CoverageScore]:
    scores = []
    for (scenario, metric), group in table.groupby(["scenario", "metric"], sort=True):
        valid = _valid(group)
        ok = group[valid]
        covered = int((np.abs(ok["value"] - ok["truth"]) <= ok["U"]).sum())
        n = len(group)
        with_u = ok[ok["u"] > 0]
        z = (with_u["value"] - with_u["truth"]) / with_u["u"]
        ks = [None if pd.isna(k) else float(k) for k in group["k"]]
        low, high = clopper_pearson(covered, n)
        units = ok["unit"].dropna()
        scores.append(
            CoverageScore(
                scenario=str(scenario),
                metric=str(metric),
                unit=str(units.iloc[0]) if len(units) else None,
                n=n,
                errors=int((~valid).sum()),
                covered=covered,
                coverage=covered / n,
                coverage_low=low,
                coverage_high=high,
                claim=max(claimed_coverage(k) for k in ks),
                z_bias=float(z.mean()) if len(z) else None,
                z_rms=float(np.sqrt(np.mean(z**2))) if len(z) else None,
                mean_U=float(ok["U"].mean()) if len(ok) else None,
            )
        )
    return scores


def _verdict_rows(table: pd.DataFrame) -> pd.DataFrame:
    scored = table["scored_verdict"].fillna(False).astype(bool)
    # A metric is a verdict metric if any of its rows carried a limit; errored rows of it count too.
    verdict_metrics = set(
        map(tuple, table.loc[table["limit"].notna(), ["scenario", "metric"]].drop_duplicates().values)
    )
    keys = list(zip(table["scenario"], table["metric"], strict=True))
    in_verdict = pd.Series([key in verdict_metrics for key in keys], index=table.index)
    return table[scored & in_verdict]


def score_risk(table: pd.DataFrame) -> list[RiskScore]:
    scores = []
    for (scenario, metric), group in _verdict_rows(table).groupby(["scenario", "metric"], sort=True):
        limit = float(group["limit"].dropna().iloc[0])
        rules = group["rule"].dropna()
        outcome = group["outcome"]
        errors = int(group["error"].notna().sum())
        beyond = group["truth"] > limit
        fa = int(((outcome == "PASS") & beyond).sum())
        fr = int(((outcome == "FAIL") & ~beyond).sum())
        inc = int((outcome == "INCONCLUSIVE").sum())
        n = len(group)
        fa_rate, fa_low, fa_high = _rate(fa, n)
        fr_rate, fr_low, fr_high = _rate(fr, n)
        inc_rate, inc_low, inc_high = _rate(inc, n)
        scores.append(
            RiskScore(
                scenario=str(scenario),
                metric=str(metric),
                limit=limit,
                rule=str(rules.iloc[0]) if len(rules) else None,
                n=n,
                errors=errors,
                passed=int((outcome == "PASS").sum()),
                failed=int((outcome == "FAIL").sum()),
                inconclusive=inc,
                nonconforming=int(beyond.sum()),
                false_accepts=fa,
                false_rejects=fr,
                false_accept_rate=fa_rate,
                false_accept_low=fa_low,
                false_accept_high=fa_high,
                false_reject_rate=fr_rate,
                false_reject_low=fr_low,
                false_reject_high=fr_high,
                inconclusive_rate=inc_rate,
                inconclusive_low=inc_low,
                inconclusive_high=inc_high,
            )
        )
    return scores


def score_oc(table: pd.DataFrame, edges: Sequence[float] = OC_EDGES) -> list[OcBin]:
    """P(PASS) per bin of truth/limit, errored rows counted as not passed."""
    bins = []
    for (scenario, metric), group in _verdict_rows(table).groupby(["scenario", "metric"], sort=True):
        limit = float(group["limit"].dropna().iloc[0])
        ratio = group["truth"] / limit
        for low, high in itertools.pairwise(edges):
            inside = group[(ratio >= low) & (ratio < high)]
            if inside.empty:
                continue
            passed = int((inside["outcome"] == "PASS").sum())
            p, p_low, p_high = _rate(passed, len(inside))
            bins.append(
                OcBin(
                    scenario=str(scenario),
                    metric=str(metric),
                    low=low,
                    high=high,
                    n=len(inside),
                    passed=passed,
                    p_pass=p,
                    p_pass_low=p_low,
                    p_pass_high=p_high,
                )
            )
    return bins


def score(table: pd.DataFrame) -> Scores:
    tasks = table[["scenario", "seed"]].drop_duplicates()
    errored = table.loc[table["error"].notna(), ["scenario", "seed"]].drop_duplicates()
    return Scores(
        coverage=score_coverage(table),
        risk=score_risk(table),
        oc=score_oc(table),
        tasks=len(tasks),
        errored_tasks=len(errored),
    )


#: Family-wise error rate of the gate's coverage tests: the chance that a campaign whose claims all hold
#: fails the gate anyway by bad luck, over all its metrics together.
GATE_ALPHA = 0.05


def familywise_upper_bound(covered: int, n: int, tests: int, alpha: float = GATE_ALPHA) -> float:
    """One-sided Clopper–Pearson upper bound at level α/m (Bonferroni over the m metrics of a campaign).

    A campaign scores dozens of metrics; testing each at 95 % would refute some true claim in most
    campaigns. Holm–Bonferroni-style control keeps the gate's false alarms at α for the whole campaign
    while a coverage *clearly* below its claim still fails it.
    """
    if n <= 0 or covered >= n:
        return 1.0
    return float(stats.beta.ppf(1.0 - alpha / max(tests, 1), covered + 1, n - covered))


def gate(scores: Scores) -> Gate:
    """Fail when a coverage claim is refuted (family-wise upper bound below it), on any false accept, or
    when any task errored."""
    tests = len(scores.coverage)
    reasons = [
        f"{c.scenario}/{c.metric}: coverage {c.coverage:.3f} (95 % CI {c.coverage_low:.3f}–"
        f"{c.coverage_high:.3f}, n={c.n}; family-wise upper bound {bound:.3f} over {tests} metrics) "
        f"below the claimed {c.claim:.4f}"
        for c in scores.coverage
        if (bound := familywise_upper_bound(c.covered, c.n, tests)) < c.claim
    ]
    reasons += [
        f"{r.scenario}/{r.metric}: {r.false_accepts} false accept(s) of {r.n} "
        f"(PASS while truth > {r.limit:g})"
        for r in scores.risk
        if r.false_accepts
    ]
    if scores.errored_tasks:
        reasons.append(f"{scores.errored_tasks} of {scores.tasks} tasks errored")
    return Gate(passed=not reasons, reasons=reasons)


def coverage_frame(scores: Scores) -> pd.DataFrame:
    return pd.DataFrame([c.model_dump() for c in scores.coverage])


def risk_frame(scores: Scores) -> pd.DataFrame:
    return pd.DataFrame([r.model_dump() for r in scores.risk])


def oc_frame(scores: Scores) -> pd.DataFrame:
    return pd.DataFrame([b.model_dump() for b in scores.oc])
