"""The two benchmarks end to end: settings -> output folder -> every run -> report.

``run_vt`` and ``run_synthetic`` check the settings and the output folder before the
first run, write each finished run's row at once, skip the rows already there with
``resume``, and write the report when every run is done.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import pandas as pd

from kvt.bench.records import (SYNTHETIC_COLUMNS, TRIAL_COLUMNS, VT_COLUMNS, VT_REQUIRED, _append_row, _curve_name,
                               _finish_session, _save_curve, _start_session, read_results, upgrade_results)
from kvt.bench.folder import _prepare_output
from kvt.bench.report import report_synthetic, report_vt
from kvt.bench.runs import VTCell, pair_dataset
from kvt.bench.settings import SyntheticSettings, VTSettings
from kvt.bench.summary import plural
from kvt.bench.synthetic import train_synthetic
from kvt.errors import KvtError


def run_vt(settings: VTSettings, out: str | Path, force: bool = False, resume: bool = False,
           log: Callable[[str], None] | None = None, cell_fn: Callable | None = None) -> pd.DataFrame:
    """Run the VT benchmark into ``out`` and write its report; returns the results table.

    Runs go cell by cell (one pair x optimizer: its search, then its seeds 0, 1, ... on one
    compiled model). With ``settings.workers`` > 1 the cells run in that many processes, each
    with its share of the CPU threads. ``cell_fn(settings, pair, optimizer, trials, log)``
    replaces :class:`kvt.bench.runs.VTCell` (tests; it runs in this process).
    """
    settings = settings.resolved()
    out = Path(out)
    log = log or (lambda message: None)
    if settings.protocol == "tuned":  # a held-out temperature missing from a pair's data: refused before any run
        from kvt.bench import tuned

        for pair in settings.pairs:
            tuned.held_out_split(pair_dataset(pair), settings.held_out)
    invocation = {"pairs": settings.pairs, "optimizers": settings.optimizers, "repeats": settings.repeats,
                  "workers": settings.workers}
    meta, folder = _prepare_output(out, "vt", settings.training(), invocation, force, resume)
    with folder as work:
        _start_session(work, meta)
        _run_vt_cells(settings, out, work, meta, resume, log, cell_fn)
        log(f"writing the report in {out}")
        return report_vt(work, log=log)


def _run_vt_cells(settings, out: Path, work: Path, meta: dict, resume: bool, log, cell_fn) -> None:
    results_path, trials_path = work / "results.csv", work / "trials.csv"
    upgrade_results(results_path, VT_COLUMNS, VT_REQUIRED)
    done = read_results(results_path, VT_COLUMNS, VT_REQUIRED)
    finished = {(r.pair, r.optimizer, int(r.seed)) for r in done.itertuples()}
    recorded = read_results(trials_path, TRIAL_COLUMNS)
    trials = {key: group.to_dict(orient="records") for key, group in recorded.groupby(["pair", "optimizer"])}
    cells = [(pair, optimizer, [seed for seed in range(settings.repeats) if (pair, optimizer, seed) not in finished])
             for pair in settings.pairs for optimizer in settings.optimizers]
    cells = [cell for cell in cells if cell[2]]
    total = len(settings.pairs) * len(settings.optimizers) * settings.repeats
    todo = sum(len(seeds) for _, _, seeds in cells)
    search = f", {settings.trials} search trials each" if settings.protocol == "tuned" else ""
    log(f"VT benchmark, protocol {settings.protocol}: {plural(len(settings.optimizers), 'optimizer')} x "
        f"{plural(len(settings.pairs), 'pair')} x {plural(settings.repeats, 'seed')} = {plural(total, 'run')}{search} "
        f"-> {out}")
    if resume:
        log(f"resuming {out}: {total - todo} of {total} runs already done")
    counter = iter(range(1, todo + 1))

    def record(pair, optimizer, cell_trials, outcomes):
        for trial in cell_trials:
            _append_row(trials_path, TRIAL_COLUMNS, trial)
        for seed, row, history in outcomes:
            prefix = f"[{next(counter)}/{todo}] {pair} {optimizer} seed {seed}"
            if history is None:
                log(f"{prefix}: diverged ({row['message']})")
            else:
                if seed == 0 or not (work / "curves" / _curve_name(pair, optimizer, 0)).exists():
                    _save_curve(work / "curves" / _curve_name(pair, optimizer, seed), history,
                                ["epoch", "val_loss", "dense_median"])
                log(f"{prefix}: val MSE {row['val_mse_scaled']:.3g}, {row['epochs']} epochs, "
                    f"{row['wall_time_s']:.1f} s")
            _append_row(results_path, VT_COLUMNS, row)

    if settings.workers == 1 or len(cells) < 2 or cell_fn is not None:
        for pair, optimizer, seeds in cells:
            run_cell(settings, pair, optimizer, seeds, trials.get((pair, optimizer)), log, cell_fn, record)
    else:
        _run_in_workers(settings, cells, trials, log, record)
    _finish_session(work, meta, todo)


def run_cell(settings, pair, optimizer, seeds, trials, log, cell_fn=None, record=None):
    """Build one cell and run its ``seeds``; ``record(pair, optimizer, trials, [(seed, row, history)])`` is
    called once after the search and once per run (so an interruption keeps every finished run)."""
    record = record or (lambda *args: None)
    try:
        cell = (cell_fn or VTCell)(settings, pair, optimizer, trials, log)
    except KvtError as exc:  # the tuned search failed in every trial: the cell's runs are recorded as such
        rows = [(seed, _diverged_row(settings, pair, optimizer, seed, exc), None) for seed in seeds]
        record(pair, optimizer, [], rows)
        return [], rows
    record(pair, optimizer, cell.trials, [])
    outcomes = []
    for seed in seeds:
        try:
            row, history = cell.run(seed)
        except KvtError as exc:
            row, history = _diverged_row(settings, pair, optimizer, seed, exc), None
        outcomes.append((seed, row, history))
        record(pair, optimizer, [], [outcomes[-1]])
    return cell.trials, outcomes


def _diverged_row(settings, pair, optimizer, seed, exc) -> dict:
    return {"pair": pair, "optimizer": optimizer, "seed": seed, "protocol": settings.protocol, "status": "diverged",
            "target_mse": settings.target_mse, "rel_target": settings.rel_target, "message": str(exc)}


def _cell_job(settings, pair, optimizer, seeds, trials):
    """A worker process's task: one cell, returned whole to the parent, which writes it."""
    return run_cell(settings, pair, optimizer, seeds, trials, log=None)


def _start_worker(threads: int) -> None:
    """A worker process: TensorFlow quiet and limited to its share of the cores (before it starts)."""
    from kvt.training.quiet import quiet_tensorflow_import

    quiet_tensorflow_import()
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.get_logger().setLevel("ERROR")


def _run_in_workers(settings, cells, trials, log, record) -> None:
    import concurrent.futures
    import multiprocessing

    workers = min(settings.workers, len(cells))  # no process without a cell
    threads = max(1, (os.cpu_count() or 1) // workers)
    log(f"running the cells in {workers} worker processes, {threads} thread(s) each")
    context = multiprocessing.get_context("spawn")  # no forked TensorFlow state
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context, initializer=_start_worker,
                                                initargs=(threads,)) as pool:
        futures = {pool.submit(_cell_job, settings, pair, optimizer, seeds, trials.get((pair, optimizer))):
                   (pair, optimizer) for pair, optimizer, seeds in cells}
        try:
            for future in concurrent.futures.as_completed(futures):
                pair, optimizer = futures[future]
                cell_trials, outcomes = future.result()
                record(pair, optimizer, cell_trials, outcomes)
        except BaseException:
            for future in futures:
                future.cancel()
            raise


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
    log(f"synthetic benchmark: {plural(len(settings.optimizers), 'optimizer')} x {plural(settings.repeats, 'seed')} "
        f"= {plural(len(jobs), 'run')} -> {out}")
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
