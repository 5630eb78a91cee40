"""The two benchmarks end to end: settings -> output folder -> every run -> report.

``run_vt`` and ``run_synthetic`` check the settings and the output folder before the
first run, write each finished run's row at once, skip the rows already there with
``resume``, and write the report when every run is done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from kvt.bench.records import (SYNTHETIC_COLUMNS, VT_COLUMNS, _append_row, _curve_name, _finish_session,
                               _prepare_output, _save_curve, _start_session, read_results)
from kvt.bench.report import report_synthetic, report_vt
from kvt.bench.runs import _vt_row, train_vt
from kvt.bench.settings import SyntheticSettings, VTSettings
from kvt.bench.synthetic import train_synthetic
from kvt.errors import KvtError


def run_vt(settings: VTSettings, out: str | Path, force: bool = False, resume: bool = False,
           log: Callable[[str], None] | None = None, train_fn: Callable | None = None) -> pd.DataFrame:
    """Run the VT benchmark into ``out`` and write its report; returns the results table.

    Runs go seed by seed (every pair and optimizer for seed 0, then seed 1, ...), so an
    interrupted benchmark has whole repeats first. ``train_fn(settings, pair, optimizer,
    seed)`` replaces :func:`train_vt` (tests).
    """
    settings = settings.resolved()
    out = Path(out)
    log = log or (lambda message: None)
    train_fn = train_fn or train_vt
    invocation = {"pairs": settings.pairs, "optimizers": settings.optimizers, "repeats": settings.repeats}
    meta, folder = _prepare_output(out, "vt", settings.training(), invocation, force, resume)
    with folder as work:
        _start_session(work, meta)
        _run_vt_jobs(settings, out, work, meta, resume, log, train_fn)
        log(f"writing the report in {out}")
        return report_vt(work, log=log)


def _run_vt_jobs(settings, out: Path, work: Path, meta: dict, resume: bool, log, train_fn) -> None:
    results_path = work / "results.csv"
    done = read_results(results_path, VT_COLUMNS)
    finished = {(r.pair, r.optimizer, int(r.seed)) for r in done.itertuples()}
    jobs = [(pair, optimizer, seed) for seed in range(settings.repeats) for pair in settings.pairs
            for optimizer in settings.optimizers]
    todo = [job for job in jobs if job not in finished]
    log(f"VT benchmark: {len(settings.optimizers)} optimizers x {len(settings.pairs)} pairs x "
        f"{settings.repeats} seeds = {len(jobs)} runs -> {out}")
    if resume:
        log(f"resuming {out}: {len(jobs) - len(todo)} of {len(jobs)} runs already done")
    for number, (pair, optimizer, seed) in enumerate(todo, 1):
        prefix = f"[{number}/{len(todo)}] {pair} {optimizer} seed {seed}"
        try:
            result = train_fn(settings, pair, optimizer, seed)
        except KvtError as exc:
            row = {"pair": pair, "optimizer": optimizer, "seed": seed, "status": "diverged",
                   "target_mse": settings.target_mse, "message": str(exc)}
            log(f"{prefix}: diverged ({exc})")
        else:
            row = _vt_row(settings, pair, optimizer, seed, result)
            if seed == 0 or not (work / "curves" / _curve_name(pair, optimizer, 0)).exists():
                _save_curve(work / "curves" / _curve_name(pair, optimizer, seed), result.history,
                            ["epoch", "val_loss"])
            log(f"{prefix}: val MSE {row['val_mse_scaled']:.3g}, {row['epochs']} epochs, "
                f"{row['wall_time_s']:.1f} s")
        _append_row(results_path, VT_COLUMNS, row)
    _finish_session(work, meta, len(todo))


def run_synthetic(settings: SyntheticSettings, out: str | Path, force: bool = False, resume: bool = False,
                  log: Callable[[str], None] | None = None, train_fn: Callable | None = None) -> pd.DataFrame:
    """Run the synthetic benchmark into ``out`` and write its report; returns the results table."""
    settings = settings.resolved()
    out = Path(out)
    log = log or (lambda message: None)
    train_fn = train_fn or train_synthetic
    invocation = {"optimizers": settings.optimizers, "repeats": settings.repeats}
    meta, folder = _prepare_output(out, "synthetic", settings.training(), invocation, force, resume)
    with folder as work:
        _start_session(work, meta)
        _run_synthetic_jobs(settings, out, work, meta, resume, log, train_fn)
        return report_synthetic(work)


def _run_synthetic_jobs(settings, out: Path, work: Path, meta: dict, resume: bool, log, train_fn) -> None:
    results_path = work / "results.csv"
    done = read_results(results_path, SYNTHETIC_COLUMNS)
    finished = {(r.optimizer, int(r.seed)) for r in done.itertuples()}
    jobs = [(optimizer, seed) for seed in range(settings.repeats) for optimizer in settings.optimizers]
    todo = [job for job in jobs if job not in finished]
    log(f"synthetic benchmark: {len(settings.optimizers)} optimizers x {settings.repeats} seeds = "
        f"{len(jobs)} runs -> {out}")
    if resume:
        log(f"resuming {out}: {len(jobs) - len(todo)} of {len(jobs)} runs already done")
    for number, (optimizer, seed) in enumerate(todo, 1):
        prefix = f"[{number}/{len(todo)}] synthetic {optimizer} seed {seed}"
        try:
            result = train_fn(settings, optimizer, seed)
        except KvtError as exc:
            row = {"optimizer": optimizer, "seed": seed, "status": "diverged", "message": str(exc)}
            log(f"{prefix}: diverged ({exc})")
        else:
            row = {"optimizer": optimizer, "seed": seed, "status": "ok", "message": "",
                   **{k: v for k, v in result.items() if k != "history"}}
            if seed == 0 or not (work / "curves" / _curve_name(optimizer, 0)).exists():
                _save_curve(work / "curves" / _curve_name(optimizer, seed), result["history"],
                            ["epoch", "val_loss"])
            log(f"{prefix}: val MSE {row['val_loss']:.3g}, {row['epochs']} epochs (best {row['best_epoch']}), "
                f"{row['wall_time_s']:.1f} s")
        _append_row(results_path, SYNTHETIC_COLUMNS, row)
    _finish_session(work, meta, len(todo))
