"""Statistics over seeds of a VT benchmark's results.csv: medians, bootstrap intervals, tests, ranks, profiles.

Pure numpy/pandas/scipy (no TensorFlow), so reports of finished benchmarks are cheap.

* :func:`cell_statistics`: median, quartiles, a bootstrap confidence interval of the median
  (:func:`scipy.stats.bootstrap`) and a two-sided Mann–Whitney U test against a reference sample
  (:func:`scipy.stats.mannwhitneyu`).
* :func:`metric_table`: those statistics per (pair, optimizer) for one results.csv column, with
  the reference optimizer (Adam) of the same pair as the test's other sample.
* :func:`rank_table`: ranks with ties, from the intervals.
* :func:`performance_profile` / :func:`profile_measure`: Dolan–Moré performance profiles
  (E. D. Dolan and J. J. Moré, Math. Program. 91, 201–213, 2002) of the cost to reach a target.

Every metric here is an error or a cost: lower is better.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

CONFIDENCE = 0.95
RESAMPLES = 9999
REFERENCE = "adam"

STAT_KEYS = ("n", "median", "q1", "q3", "iqr", "ci_low", "ci_high", "mwu_u", "mwu_p")


def _finite(values) -> np.ndarray:
    values = np.asarray(pd.to_numeric(pd.Series(values, dtype=object), errors="coerce"), dtype=float)
    return values[np.isfinite(values)]


def cell_statistics(values, reference=None, confidence: float = CONFIDENCE, resamples: int = RESAMPLES,
                    seed: int = 0) -> dict:
    """Median, quartiles and a bootstrap interval of the median of the finite ``values``; a test against ``reference``.

    Returns n (finite values), median, q1, q3 (:func:`numpy.percentile`, linear interpolation),
    iqr = q3 - q1, ci_low, ci_high and, when ``reference`` is given and both samples have at
    least one finite value, mwu_u and mwu_p of
    ``scipy.stats.mannwhitneyu(values, reference, alternative="two-sided")`` (U of ``values``;
    scipy picks the exact distribution for small samples without ties); otherwise those two are NaN.

    The interval is :func:`scipy.stats.bootstrap`'s **percentile** interval of the median,
    ``resamples`` resamples drawn with ``numpy.random.default_rng(seed)`` (repeatable). Why
    percentile rather than scipy's default BCa: BCa's acceleration comes from the jackknife,
    which is known to be inconsistent for the median (a non-smooth statistic), and with the 5–10
    seeds of a benchmark cell the bootstrap distribution of the median takes only a handful of
    distinct values, so BCa's corrections are unstable; the percentile interval of the median
    is transformation-respecting and always lies within the observed values (never below zero
    for an error). With 5 values it is close to the sample range: that is how little 5 seeds say.
    With fewer than two values the interval is NaN (no spread to resample); with all values
    equal it is that value (the bootstrap distribution is a point).
    """
    values = _finite(values)
    out = dict.fromkeys(STAT_KEYS, math.nan)
    out["n"] = len(values)
    if len(values):
        q1, median, q3 = np.percentile(values, [25, 50, 75])
        out.update(median=float(median), q1=float(q1), q3=float(q3), iqr=float(q3 - q1))
    if len(values) >= 2:
        if np.all(values == values[0]):
            out.update(ci_low=float(values[0]), ci_high=float(values[0]))
        else:
            result = stats.bootstrap((values,), np.median, confidence_level=confidence, n_resamples=resamples,
                                     method="percentile", rng=np.random.default_rng(seed))
            out.update(ci_low=float(result.confidence_interval.low), ci_high=float(result.confidence_interval.high))
    if reference is not None:
        reference = _finite(reference)
        if len(values) and len(reference):
            test = stats.mannwhitneyu(values, reference, alternative="two-sided")
            out.update(mwu_u=float(test.statistic), mwu_p=float(test.pvalue))
    return out


def _column(results: pd.DataFrame, column: str) -> pd.Series:
    """``results[column]`` as floats; NaN where the column is absent (results of an older kvt) or empty."""
    if column not in results:
        return pd.Series(math.nan, index=results.index, dtype=float)
    return pd.to_numeric(results[column], errors="coerce").astype(float)


def metric_table(results: pd.DataFrame, metric: str, reference: str = REFERENCE, confidence: float = CONFIDENCE,
                 resamples: int = RESAMPLES, seed: int = 0) -> pd.DataFrame:
    """One row per (pair, optimizer): runs, not_ok (runs whose status is not "ok") and :func:`cell_statistics`.

    The statistics are over the ok runs' finite values of column ``metric`` (all NaN when the
    column is absent). mwu_u/mwu_p test against the ``reference`` optimizer's ok runs of the same
    pair; NaN for the reference itself and for pairs where it did not run. Rows keep the order in
    which the cells first appear in ``results``.
    """
    values = _column(results, metric)
    ok = results["status"] == "ok"
    rows = []
    for (pair, optimizer), group in results.groupby(["pair", "optimizer"], sort=False):
        ref = None
        if optimizer != reference:
            ref_rows = ok & (results["pair"] == pair) & (results["optimizer"] == reference)
            ref = values[ref_rows].to_numpy() if ref_rows.any() else None
        mine = values[group.index[ok[group.index].to_numpy()]].to_numpy()
        cell = cell_statistics(mine, ref, confidence, resamples, seed)
        rows.append({"pair": pair, "optimizer": optimizer, "runs": len(group),
                     "not_ok": int((~ok[group.index]).sum()), **cell})
    return pd.DataFrame(rows, columns=["pair", "optimizer", "runs", "not_ok", *STAT_KEYS])


def rank_table(table: pd.DataFrame) -> pd.DataFrame:
    """Per pair, the optimizers ordered by median (lower is better) with ranks that tie where intervals overlap.

    The rule: rank = 1 + the number of optimizers of the same pair whose interval upper bound
    ``ci_high`` lies strictly below this optimizer's lower bound ``ci_low``, i.e. that are
    distinguishably better. Optimizers whose intervals overlap therefore share a rank, and
    rank 1 holds every optimizer that no other one beats. An optimizer without an interval
    (fewer than two values) is beaten by no one and beats no one; one without any value has
    rank NaN and comes last. Ties in the median keep the optimizer name order.
    Columns: pair, optimizer, rank, median, ci_low, ci_high.
    """
    parts = []
    for _, part in table.groupby("pair", sort=False):
        low, high = part["ci_low"].to_numpy(dtype=float), part["ci_high"].to_numpy(dtype=float)
        beaten_by = (high[None, :] < low[:, None]).sum(axis=1)  # NaN compares False: no interval, no evidence
        ranked = part.assign(rank=np.where(part["median"].notna(), 1 + beaten_by, np.nan))
        parts.append(ranked.sort_values(["median", "optimizer"], na_position="last", kind="stable"))
    columns = ["pair", "optimizer", "rank", "median", "ci_low", "ci_high"]
    if not parts:
        return pd.DataFrame(columns=columns)
    return pd.concat(parts)[columns].reset_index(drop=True)


def performance_ratios(measure: pd.DataFrame) -> pd.DataFrame:
    """Dolan–Moré ratios r_ps = t_ps / min_s t_ps of a problems × solvers cost table.

    NaN, inf (not reached) give r = inf; a problem that no solver reached gives inf for all.
    Costs must be positive.
    """
    cost = measure.apply(pd.to_numeric, errors="coerce").astype(float)
    values = cost.to_numpy()
    reached = np.isfinite(values)
    if (values[reached] <= 0).any():
        raise ValueError("performance profiles need positive costs")
    values = np.where(reached, values, np.inf)
    best = values.min(axis=1, initial=np.inf, keepdims=True)
    with np.errstate(invalid="ignore"):
        ratios = np.where(reached, values / best, np.inf)
    return pd.DataFrame(ratios, index=measure.index, columns=measure.columns)


def performance_profile(measure: pd.DataFrame, taus) -> pd.DataFrame:
    """Dolan–Moré performance profiles: rho_s(tau) = share of problems whose ratio r_ps <= tau.

    ``measure``: one row per problem, one column per solver (optimizer), the cost (optimizer
    steps, seconds) to reach the target; NaN or inf = not reached (ratio inf, see
    :func:`performance_ratios`). Returns one column per solver, indexed by ``tau``; NaN when
    there are no problems.
    """
    ratios = performance_ratios(measure).to_numpy()
    taus = np.asarray(taus, dtype=float)
    if len(ratios):
        rho = (ratios[None, :, :] <= taus[:, None, None]).mean(axis=1)
    else:
        rho = np.full((len(taus), measure.shape[1]), np.nan)
    return pd.DataFrame(rho, index=pd.Index(taus, name="tau"), columns=measure.columns)


def profile_measure(results: pd.DataFrame, column: str) -> pd.DataFrame:
    """results.csv as a performance-profile cost table: problem (pair, seed) × solver (optimizer) -> ``column``.

    A run whose status is not "ok", an empty value, an absent column or a (pair, seed) on
    which an optimizer did not run is NaN (not reached). Of repeated rows the last one counts.
    """
    values = _column(results, column).where(results["status"] == "ok")
    frame = results[["pair", "seed", "optimizer"]].assign(value=values)
    frame = frame.drop_duplicates(["pair", "seed", "optimizer"], keep="last")
    measure = frame.set_index(["pair", "seed", "optimizer"])["value"].unstack("optimizer")
    measure.columns.name = None
    return measure.reindex(columns=list(dict.fromkeys(results["optimizer"])))
