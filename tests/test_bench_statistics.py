"""Statistics of ``kvt bench vt`` (kvt.bench.statistics) against scipy and hand-computed values, and the report
sections they feed (kvt.bench.report_statistics, profiles.png) on hand-made and on old results folders. No training."""

import json
import math
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kvt.bench import report
from kvt.bench.report_statistics import statistics_markdown
from kvt.bench.statistics import (cell_statistics, metric_table, performance_profile, performance_ratios,
                                  profile_measure, rank_table)

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "benchmarks" / "results" / "vt"

# The results.csv columns of a VT benchmark written by a kvt with the statistics (issue 15).
NEW_COLUMNS = ["pair", "optimizer", "seed", "protocol", "status", "val_mse_scaled", "train_mse_scaled",
               "val_mae_m3_s", "val_rel_err_median", "val_rel_err_max", "fho_rel_err_median", "fho_rel_err_max",
               "nonpositive_fraction", "tau_rel_err_1000K", "tau_rel_err_5000K", "heldout_mse_scaled",
               "heldout_rel_err_median", "heldout_rel_err_max", "epochs", "best_epoch", "steps_per_epoch",
               "wall_time_s", "run_time_s", "steps_per_second", "target_mse", "target_epoch", "target_steps",
               "target_time_s", "rel_target", "rel_target_epoch", "rel_target_steps", "rel_target_time_s",
               "hyperparameters", "message"]


def test_cell_statistics_match_scipy_and_numpy_on_fixed_numbers():
    values = [0.31, 0.12, 0.74, 0.22, np.nan, 0.93, 0.45, np.inf]  # the non-finite two are left out
    reference = [0.52, 0.81, 0.63, 1.04, 0.95]
    finite = np.array([0.31, 0.12, 0.74, 0.22, 0.93, 0.45])
    cell = cell_statistics(values, reference, confidence=0.9, resamples=2000, seed=3)
    q1, q3 = np.percentile(finite, [25, 75])
    boot = stats.bootstrap((finite,), np.median, confidence_level=0.9, n_resamples=2000, method="percentile",
                           rng=np.random.default_rng(3))
    test = stats.mannwhitneyu(finite, reference, alternative="two-sided")
    assert cell["n"] == 6
    assert cell["median"] == pytest.approx(0.38)  # (0.31 + 0.45) / 2
    assert (cell["q1"], cell["q3"], cell["iqr"]) == pytest.approx((q1, q3, q3 - q1))
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((boot.confidence_interval.low,
                                                               boot.confidence_interval.high))
    assert cell["ci_low"] <= cell["median"] <= cell["ci_high"]
    assert (cell["mwu_u"], cell["mwu_p"]) == pytest.approx((test.statistic, test.pvalue))
    assert cell["mwu_u"] == 5  # by hand: 0.74 beats 0.52 and 0.63, 0.93 beats 0.52, 0.81 and 0.63
    again = cell_statistics(values, reference, confidence=0.9, resamples=2000, seed=3)
    assert again == cell  # seeded: repeatable


def test_mann_whitney_of_fully_separated_samples_is_the_exact_two_sided_p():
    """5 values all below 5 others: one of C(10, 5) = 252 equally likely orderings, two-sided p = 2/252."""
    low, high = [1.0, 2.0, 3.0, 4.0, 5.0], [6.0, 7.0, 8.0, 9.0, 10.0]
    below = cell_statistics(low, high)
    above = cell_statistics(high, low)
    assert below["mwu_p"] == pytest.approx(2 / 252) and below["mwu_u"] == 0
    assert above["mwu_p"] == pytest.approx(2 / 252) and above["mwu_u"] == 25


def test_bootstrap_interval_of_the_median_of_five_values_is_the_sample_range():
    """With 5 values a resample's median is the smallest value when >= 3 of 5 draws are it: P = P(Bin(5, 1/5) >= 3)
    = 0.0579 > 0.025, and likewise for the largest, so the 95 % percentile interval is [min, max]."""
    assert 1 - sum(math.comb(5, k) * 0.2 ** k * 0.8 ** (5 - k) for k in range(3)) == pytest.approx(0.05792)
    cell = cell_statistics([3.0, 1.0, 10.0, 4.0, 2.0])
    assert (cell["median"], cell["ci_low"], cell["ci_high"]) == (3.0, 1.0, 10.0)
    assert (cell["q1"], cell["q3"], cell["iqr"]) == (2.0, 4.0, 2.0)


def test_cell_statistics_of_degenerate_samples_neither_crash_nor_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        one = cell_statistics([0.5], [0.1, 0.2])
        equal = cell_statistics([0.2, 0.2, 0.2], [0.3])
        empty = cell_statistics([np.nan, np.inf])
        no_reference = cell_statistics([0.1, 0.3], [np.nan])
    assert one["n"] == 1 and one["median"] == 0.5 and math.isnan(one["ci_low"]) and math.isnan(one["ci_high"])
    assert one["mwu_u"] == 2  # 0.5 beats both reference values
    assert (equal["ci_low"], equal["median"], equal["ci_high"], equal["iqr"]) == (0.2, 0.2, 0.2, 0.0)
    assert empty["n"] == 0 and all(math.isnan(empty[k]) for k in empty if k != "n")
    assert math.isnan(no_reference["mwu_p"]) and math.isnan(no_reference["mwu_u"])
    assert no_reference["ci_low"] <= 0.2 <= no_reference["ci_high"]


def _run(pair, optimizer, seed, mse, status="ok", **extra):
    return {"pair": pair, "optimizer": optimizer, "seed": seed, "status": status,
            "val_mse_scaled": mse if status == "ok" else np.nan, **extra}


def test_metric_table_counts_runs_and_tests_against_adam_of_the_same_pair():
    results = pd.DataFrame([
        _run("O2-O2", "adam", 0, 1.0), _run("O2-O2", "adam", 1, 2.0), _run("O2-O2", "adam", 2, 3.0),
        _run("O2-O2", "sgd", 0, 4.0), _run("O2-O2", "sgd", 1, 5.0), _run("O2-O2", "sgd", 2, np.nan, "diverged"),
        _run("O2-O2", "sgd", 3, 6.0),
        _run("O2-Ar", "sgd", 0, 7.0), _run("O2-Ar", "sgd", 1, 8.0)])  # no adam on O2-Ar
    table = metric_table(results, "val_mse_scaled").set_index(["pair", "optimizer"])
    sgd = table.loc[("O2-O2", "sgd")]
    assert (sgd["runs"], sgd["not_ok"], sgd["n"], sgd["median"]) == (4, 1, 3, 5.0)
    test = stats.mannwhitneyu([4.0, 5.0, 6.0], [1.0, 2.0, 3.0], alternative="two-sided")
    assert (sgd["mwu_u"], sgd["mwu_p"]) == pytest.approx((test.statistic, test.pvalue))
    assert sgd["mwu_p"] == pytest.approx(2 / 20)  # 3 vs 3 fully separated: 2 of C(6, 3) orderings
    assert math.isnan(table.loc[("O2-O2", "adam"), "mwu_p"])  # the reference itself
    assert math.isnan(table.loc[("O2-Ar", "sgd"), "mwu_p"])  # no reference on that pair
    assert table.loc[("O2-Ar", "sgd"), "median"] == 7.5
    absent = metric_table(results, "tau_rel_err_1000K")  # a column an older results.csv lacks
    assert (absent["n"] == 0).all() and absent["median"].isna().all()


def test_rank_table_ties_overlapping_intervals_and_ranks_a_distinguishable_gap():
    table = pd.DataFrame([
        # pair P: a and b overlap (tie at 1); c lies above both (rank 3); e has no interval (n = 1): beaten by
        # no one and beats no one; f has no value at all
        {"pair": "P", "optimizer": "c", "median": 4.5, "ci_low": 4.0, "ci_high": 5.0},
        {"pair": "P", "optimizer": "b", "median": 2.0, "ci_low": 1.5, "ci_high": 3.0},
        {"pair": "P", "optimizer": "a", "median": 1.2, "ci_low": 1.0, "ci_high": 2.0},
        {"pair": "P", "optimizer": "f", "median": np.nan, "ci_low": np.nan, "ci_high": np.nan},
        {"pair": "P", "optimizer": "e", "median": 6.0, "ci_low": np.nan, "ci_high": np.nan},
        # pair Q: y's interval lies above x's; x's does not above anything
        {"pair": "Q", "optimizer": "y", "median": 2.7, "ci_low": 2.5, "ci_high": 3.0},
        {"pair": "Q", "optimizer": "x", "median": 1.5, "ci_low": 1.0, "ci_high": 2.0}])
    ranked = rank_table(table)
    p = ranked[ranked["pair"] == "P"]
    assert list(p["optimizer"]) == ["a", "b", "c", "e", "f"]  # median order, no value last
    assert list(p["rank"].fillna(-1)) == [1, 1, 3, 1, -1]
    q = ranked[ranked["pair"] == "Q"]
    assert list(q["optimizer"]) == ["x", "y"] and list(q["rank"]) == [1, 2]


def test_performance_profile_of_a_hand_made_example():
    """3 problems x 3 solvers; costs and the profile worked out by hand.

    p1: a 10, b 20, c 40 -> ratios 1, 2, 4
    p2: a not reached, b 30, c 15 -> inf, 2, 1
    p3: nobody reaches it -> inf, inf, inf
    rho_a = 1/3 everywhere; rho_b = 0 below 2, 2/3 from 2; rho_c = 1/3 below 4, 2/3 from 4.
    """
    measure = pd.DataFrame({"a": [10.0, np.nan, np.inf], "b": [20.0, 30.0, np.nan], "c": [40.0, 15.0, np.nan]},
                           index=["p1", "p2", "p3"])
    ratios = performance_ratios(measure)
    assert ratios.to_numpy().tolist() == [[1, 2, 4], [np.inf, 2, 1], [np.inf] * 3]
    taus = [1.0, 1.5, 2.0, 3.0, 4.0, 5.0]
    profile = performance_profile(measure, taus)
    assert list(profile.index) == taus and list(profile.columns) == ["a", "b", "c"]
    np.testing.assert_allclose(profile["a"], [1 / 3] * 6)
    np.testing.assert_allclose(profile["b"], [0, 0, 2 / 3, 2 / 3, 2 / 3, 2 / 3])
    np.testing.assert_allclose(profile["c"], [1 / 3, 1 / 3, 1 / 3, 1 / 3, 2 / 3, 2 / 3])
    with pytest.raises(ValueError, match="positive costs"):
        performance_ratios(pd.DataFrame({"a": [0.0], "b": [1.0]}))


def test_profile_measure_pivots_pair_seed_by_optimizer_and_not_ok_is_not_reached():
    results = pd.DataFrame([
        _run("O2-O2", "adam", 0, 1.0, target_steps=100.0), _run("O2-O2", "sgd", 0, 1.0, target_steps=300.0),
        _run("O2-O2", "adam", 1, 1.0, target_steps=np.nan), _run("O2-O2", "sgd", 1, np.nan, "diverged",
                                                                   target_steps=50.0),
        _run("O2-Ar", "adam", 0, 1.0, target_steps=70.0)])  # sgd did not run on O2-Ar
    measure = profile_measure(results, "target_steps")
    assert list(measure.columns) == ["adam", "sgd"]
    assert list(measure.index) == [("O2-Ar", 0), ("O2-O2", 0), ("O2-O2", 1)]
    assert measure.fillna(-1).to_numpy().tolist() == [[70, -1], [100, 300], [-1, -1]]
    assert profile_measure(results, "rel_target_steps").isna().all().all()  # absent column: nothing reached


def _meta(protocol="defaults"):
    meta = json.loads((COMMITTED / "bench.json").read_text())
    meta["training"]["protocol"] = protocol
    return meta


def _new_results() -> pd.DataFrame:
    """Two pairs x (adam, lion) x 4 seeds with every new column; lion diverges once on O2-O; lion is faster."""
    rows = []
    for pair_index, pair in enumerate(("O2-O2", "O2-O")):
        for optimizer, scale in (("adam", 1.0), ("lion", 0.5)):
            for seed in range(4):
                x = (1 + pair_index) * scale * (1 + 0.1 * seed)
                diverged = optimizer == "lion" and pair == "O2-O" and seed == 3
                row = dict.fromkeys(NEW_COLUMNS, np.nan)
                row.update(pair=pair, optimizer=optimizer, seed=seed, protocol="defaults",
                           status="diverged" if diverged else "ok", message="loss is NaN" if diverged else "",
                           hyperparameters="{}")
                if not diverged:
                    row.update(val_mse_scaled=1e-3 * x, train_mse_scaled=1e-3 * x, val_mae_m3_s=1e-18 * x,
                               val_rel_err_median=0.1 * x, val_rel_err_max=2.0 * x, fho_rel_err_median=0.04 * x,
                               fho_rel_err_max=0.5 * x, nonpositive_fraction=0.0, tau_rel_err_1000K=0.02 * x,
                               tau_rel_err_5000K=0.03 * x, heldout_mse_scaled=2e-3 * x,
                               heldout_rel_err_median=0.2 * x, heldout_rel_err_max=3.0 * x, epochs=300,
                               best_epoch=200, steps_per_epoch=80, wall_time_s=10.0 * x, run_time_s=11.0 * x,
                               steps_per_second=2400.0, target_mse=0.004, target_epoch=20 * x,
                               target_steps=1600 * x, target_time_s=0.7 * x, rel_target=0.05,
                               rel_target_epoch=(50 * x if seed < 2 else np.nan),
                               rel_target_steps=(4000 * x if seed < 2 else np.nan),
                               rel_target_time_s=(1.6 * x if seed < 2 else np.nan))
                rows.append(row)
    return pd.DataFrame(rows, columns=NEW_COLUMNS)


def _section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start:end if end >= 0 else None]


def test_report_of_new_results_has_the_statistics_sections_and_profiles(tmp_path):
    results = _new_results()
    (tmp_path / "bench.json").write_text(json.dumps(_meta()))
    results.to_csv(tmp_path / "results.csv", index=False)
    report.report_vt(tmp_path, level_figures=False)
    text = (tmp_path / "results.md").read_text()
    assert (tmp_path / "profiles.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "- `profiles.png`: performance profiles" in _section(text, "Figures")
    assert text.index("## Statistics over seeds") < text.index("## Time to result") \
        < text.index("## What users read") < text.index("## Figures")

    statistics = _section(text, "Statistics over seeds")
    assert "### Validation MSE (scaled target) (`val_mse_scaled`)" in statistics
    assert "not corrected for multiple comparisons, 1 test per pair; with 4 runs on each side the smallest p it " \
           f"can give is {2 / 70:.2g})" in statistics  # 2 of C(8, 4) = 70 orderings
    # O2-O2 lion: 0.5e-3 x (1, 1.1, 1.2, 1.3); median 5.75e-4, quartiles by numpy, 4 vs 4 fully separated from adam
    lion = 0.5e-3 * np.array([1.0, 1.1, 1.2, 1.3])
    q1, q3 = np.percentile(lion, [25, 75])
    p = stats.mannwhitneyu(lion, 2 * lion, alternative="two-sided").pvalue
    assert p == pytest.approx(2 / 70)
    assert f"| lion | 4 | 0.000575 | {q1:.3g} – {q3:.3g} |" in statistics
    assert f"| {p:.2g} | 1 |" in statistics
    assert "| adam | 4 |" in statistics and "| ref. | 2 |" in statistics  # adam's interval lies above lion's
    assert "| lion | 3 (1 not ok) |" in statistics  # O2-O: one diverged run
    assert "| O2–O2 | 1: lion; 2: adam |" in statistics
    assert "### Dense-grid median relative error vs FHO-FR (`fho_rel_err_median`)" in statistics

    timing = _section(text, "Time to result")
    # adam, target_steps 1600 x (1, 1.1, 1.2, 1.3) -> median 1840 on O2-O2, twice that on O2-O (listed first);
    # seconds 0.7 x ... -> 0.805; 4 of 4 runs reached it
    assert "| adam | 3.68e+03 | 1.61 | 4/4 | 1.84e+03 | 0.805 | 4/4 |" in timing
    assert "Dense-grid median relative error vs FHO-FR ≤ 0.05:" in timing
    # reached by seeds 0 and 1 only: O2-O2 median of 4000 and 4400 steps, of 1.6 and 1.76 s
    assert "| adam | 8.4e+03 | 3.36 | 2/4 | 4.2e+03 | 1.68 | 2/4 |" in timing

    users = _section(text, "What users read")
    # O2-O2 adam: fho_rel_err_max 0.5 x (1..1.3) median 0.575; nonpositive 0; tau 0.02/0.03 x median 0.023/0.0345
    assert "| adam | 0.575 | 0 | 0.023 | 0.0345 |" in users
    assert "held-out" not in users  # only for the tuned protocol

    summary = pd.read_csv(tmp_path / "summary.csv").set_index(["pair", "optimizer"])
    assert summary.loc[("O2-O2", "lion"), "score_median"] == pytest.approx(5.75e-4)
    assert summary.loc[("O2-O2", "lion"), "score_mwu_p"] == pytest.approx(2 / 70, rel=1e-5)
    assert (summary.loc[("O2-O2", "lion"), "score_rank"], summary.loc[("O2-O2", "adam"), "score_rank"]) == (1, 2)
    assert summary.loc[("O2-O", "lion"), "fho_n"] == 3


def test_tuned_protocol_scores_the_held_out_mse_and_shows_held_out_errors():
    text = "\n".join(statistics_markdown(_new_results(), _meta("tuned")))
    assert "### Held-out MSE (scaled target) (`heldout_mse_scaled`)" in text
    assert "`val_mse_scaled`" not in text
    assert "| optimizer | max rel. err. vs FHO-FR (dense grid) | non-positive fraction | τ rel. err. 1000 K | " \
           "τ rel. err. 5000 K | held-out median rel. err. | held-out max rel. err. |" in text
    assert "| adam | 0.575 | 0 | 0.023 | 0.0345 | 0.23 | 3.45 |" in text
    assert "| adam | 4 | 0.0023 |" in text  # held-out MSE 2e-3 x (1..1.3): median 2.3e-3


def test_report_of_an_old_results_folder_is_written_with_dashes(tmp_path):
    """The committed defaults run predates the new columns: the report is still written, the old sections unchanged."""
    for name in ("results.csv", "bench.json"):
        shutil.copy(COMMITTED / name, tmp_path / name)
    report.report_vt(tmp_path, level_figures=False)
    text = (tmp_path / "results.md").read_text()
    assert (tmp_path / "profiles.png").stat().st_size > 0
    for title in ("Statistics over seeds", "Time to result", "What users read"):
        assert f"## {title}" in text
    users = _section(text, "What users read")
    assert "| adam | — | — | — | — |" in users
    timing = _section(text, "Time to result")
    # the rel_target columns are absent: "—", not "0/3 reached"
    assert "| adam | — | — | — | — | — | — | — | — | — |" in timing
    # summary.csv keeps its columns and values and gains the statistics; the old sections come first
    old, new = pd.read_csv(COMMITTED / "summary.csv"), pd.read_csv(tmp_path / "summary.csv")
    pd.testing.assert_frame_equal(new[old.columns], old)
    assert {"score_median", "score_ci_low", "score_ci_high", "score_mwu_p", "score_rank"} <= set(new.columns)
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[:4] == ["## Goal: every optimizer at or below the study's best MSE per pair",
                            "## Accuracy in physical units (validation rows, mean over seeds)",
                            "## Time to target: validation MSE ≤ 0.004", "## Statistics over seeds"]
