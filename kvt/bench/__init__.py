"""Reproduce the study's optimizer comparison: the VT benchmark and the synthetic test.

Two benchmarks, each writing one output folder:

``run_vt`` (``kvt bench vt``)
    Trains every chosen optimizer on every chosen collision pair with the study's
    pipeline (:func:`kvt.training.trainer.train` in ``study`` mode: min-max scaled target,
    batch 32, 20 % validation, early stopping with patience 100, at most 1000 epochs,
    64 units) and the registry's default hyper-parameters, for ``repeats`` seeds
    (0, 1, ...). The study's Table 3 (validation MSE on the scaled target and
    training time per pair) is :data:`STUDY_VT`.

``run_synthetic`` (``kvt bench synthetic``)
    The study's synthetic test (Table 2, :data:`STUDY_SYNTHETIC`): a 10000 x 50
    matrix U of uniform [0, 1) numbers, a three-input network, MSE loss, log-cosh
    metric, early stopping; it reports the training time and the epochs to
    convergence. How the 50 columns become three inputs and two learnable targets:

    * inputs: x1 = columns 0-19 (20 features), x2 = columns 20-34 (15),
      x3 = columns 35-49 (15), exactly the uniform numbers;
    * targets: with z = (U - 0.5) * sqrt(12) (unit variance) and three fixed weight
      vectors w1, w2, w3 (standard normal, drawn once with seed
      ``SYNTHETIC["task_seed"]``, the same in every run), the projections
      s1 = z[:, 0:20] w1 / sqrt(20), s2 = z[:, 20:35] w2 / sqrt(15),
      s3 = z[:, 35:50] w3 / sqrt(15) are standard-normal-like, and

          y1 = tanh(2 s1) + 0.5 s2 s3
          y2 = sin(s2) + 0.5 (s1^2 - 1) + 0.3 s3

      each standardised (zero mean, unit variance), plus standard-normal noise
      scaled by ``SYNTHETIC["noise"]`` (0.1). Each target needs features of at least
      two inputs, so the branches, their concatenation and the shared layer all
      matter; the best reachable validation MSE is the noise variance, 0.01.
      (The study's own data were pure noise plus uniform numbers, which no network
      can learn; its figure only timed the optimizers.)

    Network (:class:`SyntheticNet`): each input into its own Dense(units, relu);
    concatenation; Dense(units, relu); two Dense(1) heads, stacked into one (n, 2)
    output so a single MSE (the mean over both targets) and a single log-cosh metric
    cover both heads. Batch 32, 20 % validation, early stopping on the validation
    loss (patience 5, min_delta 1e-3, best weights restored), at most 100 epochs.
    "Epochs" is the number of epochs run until early stopping fired, "best epoch"
    the epoch of the lowest validation loss. Every registry optimizer is supported:
    the network's ``train_step`` hands AdaHessian its Hessian-vector products, SAM
    its second gradient pass and K-FAC its Dense-layer statistics, exactly as their
    ``HessianSequential`` / ``SAMSequential`` / ``KFACSequential`` train steps do.

Output folders (both benchmarks)::

    .kvt-artifact.json  the marker saying kvt wrote it (kind "bench"; kvt.outputs.atomic)
    bench.json      settings, machine (platform, cores, load) and versions
    results.csv     one row per run, appended (and fsynced) as each run finishes
    curves/         validation-loss history of the first seed of every cell (thinned)
    results.md      the tables beside the study's       (written atomically at the end)
    *.png           figures                             (written atomically at the end)

An interrupted benchmark keeps every finished row; ``resume=True`` skips the
(pair, optimizer, seed) rows already in ``results.csv`` and runs the rest. ``force``
replaces only an earlier kvt benchmark folder, and only once the new one is
complete (:func:`kvt.outputs.atomic.directory`). A run
that diverges (:class:`kvt.KvtError` from training) is recorded with status
``diverged`` and the benchmark goes on.
"""

from __future__ import annotations

import contextlib
import csv
import datetime as _dt
import io
import json
import math
import os
import platform
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd

from kvt import __version__
from kvt.outputs import atomic
from kvt.errors import KvtError

# ---------------------------------------------------------------- the study's published values
#: Table 3 of the study: validation MSE on the scaled target and training time (s), per pair.
#: Columns: registry name, then (MSE, time) for O2-O, O2-Ar, O2-O2, as printed in the study.
_STUDY_VT_TABLE = """\
optimizer,study_name,O2-O_mse,O2-O_time_s,O2-Ar_mse,O2-Ar_time_s,O2-O2_mse,O2-O2_time_s
adamod,AdaMod,0.004,6.23,0.117,4.31,0.015,4.44
madgrad,MADGRAD,0.223,4.76,0.256,4.68,0.168,4.57
radam,RAdam,0.072,6.65,0.069,5.04,0.026,4.94
apollo,Apollo,0.261,2.48,0.300,2.85,0.174,2.46
adahessian,AdaHessian,0.129,5.92,0.087,5.86,0.114,5.85
lars,LARS,0.007,4.43,0.025,4.38,0.029,4.43
lamb,LAMB,0.027,4.47,0.063,4.78,0.036,4.67
adam,Adam,0.100,4.23,0.338,3.11,0.352,3.42
"""
#: Table 2 of the study (synthetic test): training time mean and std (s), epochs to convergence.
_STUDY_SYNTHETIC_TABLE = """\
optimizer,study_name,time_s,time_std_s,epochs
adamod,AdaMod,15.8,1.5,22
madgrad,MADGRAD,19.6,1.3,24
radam,RAdam,17.9,0.4,23
apollo,Apollo,12.6,1.4,17
adahessian,AdaHessian,24.1,0.6,30
lars,LARS,21.5,0.4,30
lamb,LAMB,15.8,1.5,21
adam,Adam,16.36,0.8,21
"""
STUDY_VT = pd.read_csv(io.StringIO(_STUDY_VT_TABLE)).set_index("optimizer")
STUDY_SYNTHETIC = pd.read_csv(io.StringIO(_STUDY_SYNTHETIC_TABLE)).set_index("optimizer")

#: Pairs in the study's column order (O2-O, O2-Ar, O2-O2).
STUDY_PAIR_ORDER = ("O2-O", "O2-Ar", "O2-O2")
DEFAULT_PAIRS = ("O2-O2", "O2-O", "O2-Ar")


def study_best_mse(pair: str) -> float:
    """The study's best validation MSE on ``pair`` (the goal: O2-O 0.004, O2-Ar 0.025, O2-O2 0.015)."""
    return float(STUDY_VT[f"{pair}_mse"].min())


PAIR_LABEL = {"O2-O": "O2–O", "O2-Ar": "O2–Ar", "O2-O2": "O2–O2"}

#: Reduced settings of ``--quick`` (for tests and a first look): tiny network, few epochs.
VT_QUICK = {"epochs": 3, "units": 8, "patience": 100, "repeats": 1}
VT_FULL = {"epochs": None, "units": None, "patience": None, "repeats": 3}  # None: the study's (training.py)

SYNTHETIC = {
    "rows": 10000, "columns": 50, "groups": ((0, 20), (20, 35), (35, 50)), "noise": 0.1, "task_seed": 2023,
    "val_fraction": 0.2, "batch_size": 32, "epochs": 100, "patience": 5, "min_delta": 1e-3, "units": 32,
    "learning_rate": None,
}
SYNTHETIC_QUICK = {"rows": 1000, "epochs": 3, "units": 8, "repeats": 1}

VT_COLUMNS = ["pair", "optimizer", "seed", "status", "val_mse_scaled", "train_mse_scaled", "val_mae_m3_s",
              "val_rel_err_median", "val_rel_err_max", "fho_rel_err_median", "epochs", "best_epoch",
              "wall_time_s", "steps_per_second", "target_mse", "target_epoch", "target_time_s", "message"]
SYNTHETIC_COLUMNS = ["optimizer", "seed", "status", "val_loss", "val_log_cosh", "train_loss", "epochs",
                     "best_epoch", "wall_time_s", "steps_per_second", "message"]
CURVE_POINTS = 100  # rows kept per stored validation-loss curve
SMOOTHING = 9  # the loss figures draw a centred rolling median over this many stored points
PNG_DPI = 100


# ---------------------------------------------------------------- parsing and validation
def parse_pairs(spec: str | Iterable[str]) -> list[str]:
    from kvt.physics.fho import pair_partner

    items = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [p for p in items if p]
    if not items:
        raise KvtError("--pairs is empty; valid pairs: O2-O2, O2-O, O2-Ar")
    for pair in items:
        pair_partner(pair)  # "unknown pair 'X'; valid pairs: ..."
    return list(dict.fromkeys(items))


def parse_optimizers(spec: str | Iterable[str]) -> list[str]:
    """``"all"`` (every registry name) or a comma-separated list of registry names."""
    from kvt import optimizers

    items = [p.strip().lower() for p in (spec.split(",") if isinstance(spec, str) else spec)]
    items = [p for p in items if p]
    if not items:
        raise KvtError("--optimizers is empty; give 'all' or names such as adamod,lars")
    if items == ["all"]:
        return optimizers.names()
    for name in items:
        if name == "all":
            raise KvtError("'all' cannot be combined with other optimizer names")
        optimizers.entry(name)  # "unknown optimizer 'X'; valid names: ..."
    return list(dict.fromkeys(items))


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise KvtError(f"--{name} must be a positive integer, got {value!r}")
    return int(value)


@dataclass
class VTSettings:
    """What ``kvt bench vt`` runs. ``None`` epochs/units/patience: the study's defaults."""

    pairs: list[str] = field(default_factory=lambda: list(DEFAULT_PAIRS))
    optimizers: list[str] | str = "all"
    repeats: int | None = None  # None: 3 (quick: 1)
    quick: bool = False
    epochs: int | None = None
    units: int | None = None
    patience: int | None = None
    target_mse: float | None = None

    def resolved(self) -> "VTSettings":
        base = VT_QUICK if self.quick else VT_FULL
        values = asdict(self)
        for key in ("epochs", "units", "patience", "repeats"):
            if values[key] is None:
                values[key] = base[key]
        values["pairs"] = parse_pairs(self.pairs)
        values["optimizers"] = parse_optimizers(self.optimizers)
        settings = VTSettings(**values)
        _positive_int("repeats", settings.repeats)
        for key in ("epochs", "units", "patience"):
            if getattr(settings, key) is not None:
                _positive_int(key, getattr(settings, key))
        if settings.target_mse is not None and not (math.isfinite(settings.target_mse) and settings.target_mse > 0):
            raise KvtError(f"--target-mse must be a number > 0, got {settings.target_mse!r}")
        return settings

    def training(self) -> dict[str, Any]:
        """The settings every run's result depends on (checked on --resume)."""
        return {"quick": self.quick, "epochs": self.epochs, "units": self.units, "patience": self.patience,
                "target_mse": self.target_mse}


@dataclass
class SyntheticSettings:
    optimizers: list[str] | str = "all"
    repeats: int | None = None  # None: 3 (quick: 1)
    quick: bool = False
    rows: int | None = None
    epochs: int | None = None
    units: int | None = None

    def resolved(self) -> "SyntheticSettings":
        values = asdict(self)
        quick = SYNTHETIC_QUICK if self.quick else {"repeats": 3}
        for key in ("rows", "epochs", "units", "repeats"):
            if values[key] is None:
                values[key] = quick.get(key, SYNTHETIC.get(key))
        values["optimizers"] = parse_optimizers(self.optimizers)
        settings = SyntheticSettings(**values)
        for key in ("repeats", "rows", "epochs", "units"):
            _positive_int(key, getattr(settings, key))
        if settings.rows < 10:
            raise KvtError(f"--rows must be at least 10, got {settings.rows}")
        return settings

    def training(self) -> dict[str, Any]:
        return {"quick": self.quick, "rows": self.rows, "epochs": self.epochs, "units": self.units}


# ---------------------------------------------------------------- machine and output folder
def machine_info() -> dict[str, Any]:
    from kvt.outputs.rundir import package_versions

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {"platform": platform.platform(), "machine": platform.machine(), "processor": platform.processor(),
            "python": platform.python_version(), "cpu_count": os.cpu_count(),
            "load_average_1_5_15": [round(x, 2) for x in load] if load else None,
            "versions": package_versions()}


def _now() -> str:
    return _dt.datetime.now().astimezone().isoformat(timespec="seconds")


def _prepare_output(out: Path, kind: str, training: dict, invocation: dict, force: bool, resume: bool) -> dict:
    """Check the output folder (or reopen it with ``resume``); return its bench.json document."""
    if force and resume:
        raise KvtError("give --force (start again) or --resume (continue), not both")
    meta_path = out / "bench.json"
    if out.exists() and not out.is_dir():
        raise KvtError(f"{out} exists and is not a directory")
    if resume:
        if not out.is_dir():
            raise KvtError(f"nothing to resume: {out} does not exist")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, json.JSONDecodeError, UnicodeDecodeError):
            raise KvtError(f"cannot resume {out}: it has no readable bench.json (not a kvt bench output?)") from None
        if meta.get("kind") != kind:
            raise KvtError(f"cannot resume {out}: it holds a '{meta.get('kind')}' benchmark, not '{kind}'")
        if meta.get("training") != training:
            old = ", ".join(f"{k}={v}" for k, v in (meta.get("training") or {}).items())
            raise KvtError(f"cannot resume {out}: it was run with different settings ({old}); "
                           f"use the same options or --force to start again")
        meta.setdefault("sessions", []).append({"started": _now(), **invocation, "machine": machine_info()})
    else:
        atomic.check(out, "bench", force,
                     exists=f"{out} already exists; pass --force to overwrite it or --resume to continue it")
        meta = {"kind": kind, "kvt_version": __version__, "training": training,
                "sessions": [{"started": _now(), **invocation, "machine": machine_info()}]}
    return meta


def _start_session(work: Path, meta: dict) -> None:
    (work / "curves").mkdir(exist_ok=True)
    atomic.write_text(work / "bench.json", json.dumps(meta, indent=2) + "\n", force=True)


@contextlib.contextmanager
def _output_folder(out: Path, force: bool, resume: bool):
    """The folder the benchmark writes in: ``out`` itself when it is new or resumed (an
    interrupted run keeps its rows), a temporary one swapped in at the end when
    ``force`` replaces an earlier benchmark (which stays intact until then)."""
    with atomic.directory(out, "bench", force=force, resume=resume, in_place=True) as work:
        yield work


def _finish_session(out: Path, meta: dict, runs_done: int) -> None:
    session = meta["sessions"][-1]
    session.update({"finished": _now(), "runs": runs_done,
                    "load_average_at_end": machine_info()["load_average_1_5_15"]})
    atomic.write_text(out / "bench.json", json.dumps(meta, indent=2) + "\n", force=True)


def read_results(path: Path, columns: list[str]) -> pd.DataFrame:
    """The rows of a results.csv; a line cut off by an interruption is dropped (and removed)."""
    if not path.is_file():
        return pd.DataFrame(columns=columns)
    text = path.read_text()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
        atomic.write_text(path, text, force=True)
    if not text.strip():
        return pd.DataFrame(columns=columns)
    frame = pd.read_csv(io.StringIO(text), keep_default_na=True)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise KvtError(f"{path} is not a kvt bench results file (missing columns {', '.join(missing)})")
    return frame


def _append_row(path: Path, columns: list[str], row: dict) -> None:
    """Append one CSV row (header first if the file is new) in one write, flushed to disk."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    new = not path.exists() or path.stat().st_size == 0
    if new:
        writer.writeheader()
    writer.writerow({k: _csv_value(row.get(k)) for k in columns})
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(buffer.getvalue())
        handle.flush()
        os.fsync(handle.fileno())


def _csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if not math.isfinite(value) else f"{value:.6g}"
    if isinstance(value, str):
        return " ".join(value.split())
    return value


def _save_curve(path: Path, history: pd.DataFrame, columns: list[str]) -> None:
    """The history thinned to at most CURVE_POINTS rows (first, best and last epochs kept)."""
    frame = history.loc[:, [c for c in columns if c in history.columns]]
    if len(frame) > CURVE_POINTS:
        keep = set(np.linspace(0, len(frame) - 1, CURVE_POINTS - 1).round().astype(int))
        if "val_loss" in frame:
            keep.add(int(np.nanargmin(frame["val_loss"].to_numpy())))
        frame = frame.iloc[sorted(keep)]
    atomic.write_text(path, frame.to_csv(index=False, float_format="%.4g", lineterminator="\n"), force=True)


def _save_png(fig, path: Path) -> Path:
    """Save ``fig`` as a 256-colour PNG (dpi PNG_DPI; a third of the bytes) atomically and close it."""
    import matplotlib.pyplot as plt
    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=PNG_DPI, bbox_inches="tight")
    plt.close(fig)
    image = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB").quantize(colors=256)
    buffer = io.BytesIO()
    image.save(buffer, format="png", optimize=True)
    return atomic.write_bytes(path, buffer.getvalue(), force=True)


def _curve_name(*parts) -> str:
    return "__".join(str(p) for p in parts) + ".csv"


# ---------------------------------------------------------------- VT benchmark
def time_to_target(history: pd.DataFrame, target: float) -> tuple[int | None, float | None]:
    """(epoch, seconds) when the validation MSE first reached ``target``; (None, None) if never."""
    reached = history.index[history["val_loss"].to_numpy() <= target]
    if len(reached) == 0:
        return None, None
    row = history.loc[reached[0]]
    return int(row["epoch"]), float(row["time_s"])


def vt_config(settings: VTSettings, pair: str, optimizer: str, seed: int):
    from kvt.training.trainer import TrainConfig

    return TrainConfig(data=pair, mode="study", optimizer=optimizer, seed=seed, epochs=settings.epochs,
                       units=settings.units, patience=settings.patience)


def train_vt(settings: VTSettings, pair: str, optimizer: str, seed: int):
    """One VT training run (a :class:`kvt.training.trainer.TrainResult`); raises KvtError if it diverges."""
    import keras

    from kvt.training.trainer import train

    keras.backend.clear_session()  # a long benchmark must not accumulate old graphs
    return train(vt_config(settings, pair, optimizer, seed))


def _vt_row(settings, pair, optimizer, seed, result) -> dict:
    m = result.metrics
    row = {"pair": pair, "optimizer": optimizer, "seed": seed, "status": "ok",
           "val_mse_scaled": m["val_mse_scaled"], "train_mse_scaled": m["train_mse_scaled"],
           "val_mae_m3_s": m["val"]["mae_m3_s"], "val_rel_err_median": m["val"]["rel_err_median"],
           "val_rel_err_max": m["val"]["rel_err_max"],
           "fho_rel_err_median": (m.get("dense_grid") or {}).get("overall", {}).get("median"),
           "epochs": m["epochs_run"], "best_epoch": m["best_epoch"], "wall_time_s": m["wall_time_s"],
           "steps_per_second": m["steps_per_second"], "target_mse": settings.target_mse, "message": ""}
    if settings.target_mse is not None:
        row["target_epoch"], row["target_time_s"] = time_to_target(result.history, settings.target_mse)
    numbers = [row[k] for k in ("val_mse_scaled", "val_mae_m3_s", "wall_time_s")]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        row.update(status="diverged", message="non-finite metrics")
    return row


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
    meta = _prepare_output(out, "vt", settings.training(), invocation, force, resume)
    with _output_folder(out, force, resume) as work:
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


# ---------------------------------------------------------------- statistics and tables
def _mean_std(values) -> tuple[float, float]:
    """Mean and sample standard deviation of the finite values (std NaN for fewer than two)."""
    values = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(values) == 0:
        return math.nan, math.nan
    return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else math.nan


def _fmt(value, spec=".3g") -> str:
    return "—" if value is None or not np.isfinite(value) else format(value, spec)


def _pm(mean, std, spec=".3g") -> str:
    if not np.isfinite(mean):
        return "—"
    if not np.isfinite(std):
        return format(mean, spec)
    return f"{format(mean, spec)} ± {format(std, spec)}"


def _ordered_optimizers(names: Iterable[str]) -> list[str]:
    """The study's optimizers in its table order, then the others in registry order."""
    from kvt import optimizers

    present = set(names)
    registry = [n for n in optimizers.names() if n in present]
    others = sorted(present - set(registry))
    study = [n for n in STUDY_VT.index if n in present]
    return study + [n for n in registry + others if n not in study]


def _ordered_pairs(pairs: Iterable[str]) -> list[str]:
    present = set(pairs)
    return [p for p in STUDY_PAIR_ORDER if p in present] + sorted(present - set(STUDY_PAIR_ORDER))


def vt_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per (pair, optimizer): runs, ok runs, mean/std of MSE, time, epochs; goal flags."""
    rows = []
    for (pair, optimizer), group in results.groupby(["pair", "optimizer"], sort=False):
        ok = group[group["status"] == "ok"]
        mse_mean, mse_std = _mean_std(ok["val_mse_scaled"])
        time_mean, time_std = _mean_std(ok["wall_time_s"])
        goal = study_best_mse(pair) if f"{pair}_mse" in STUDY_VT else math.nan
        row = {"pair": pair, "optimizer": optimizer, "runs": len(group), "ok": len(ok),
               "mse_mean": mse_mean, "mse_std": mse_std,
               "mse_max": float(ok["val_mse_scaled"].max()) if len(ok) else math.nan,
               "time_mean": time_mean, "time_std": time_std, "epochs_mean": _mean_std(ok["epochs"])[0],
               "mae_mean": _mean_std(ok["val_mae_m3_s"])[0],
               "rel_median_mean": _mean_std(ok["val_rel_err_median"])[0],
               "rel_max_mean": _mean_std(ok["val_rel_err_max"])[0],
               "steps_per_second": _mean_std(ok["steps_per_second"])[0],
               "goal": goal, "meets_goal": bool(len(ok) == len(group) and np.isfinite(mse_mean) and mse_mean <= goal),
               "all_seeds_meet_goal": bool(len(ok) == len(group) and len(ok) and (ok["val_mse_scaled"] <= goal).all())}
        if "target_epoch" in group and group["target_mse"].notna().any():
            reached = ok[ok["target_epoch"].notna()]
            row.update(target_mse=float(group["target_mse"].dropna().iloc[0]), target_reached=len(reached),
                       target_time_mean=_mean_std(reached["target_time_s"])[0],
                       target_epoch_mean=_mean_std(reached["target_epoch"])[0])
        studied = optimizer in STUDY_VT.index and f"{pair}_mse" in STUDY_VT
        row["study_mse"] = STUDY_VT.at[optimizer, f"{pair}_mse"] if studied else math.nan
        row["study_time"] = STUDY_VT.at[optimizer, f"{pair}_time_s"] if studied else math.nan
        rows.append(row)
    summary = pd.DataFrame(rows)
    pair_rank = {p: i for i, p in enumerate(_ordered_pairs(summary["pair"].unique()))}
    optimizer_rank = {o: i for i, o in enumerate(_ordered_optimizers(summary["optimizer"].unique()))}
    order = sorted(range(len(summary)), key=lambda i: (pair_rank[summary.at[i, "pair"]],
                                                       optimizer_rank[summary.at[i, "optimizer"]]))
    return summary.iloc[order].reset_index(drop=True)


def vt_markdown(results: pd.DataFrame, summary: pd.DataFrame, meta: dict, best: dict | None = None) -> str:
    pairs = _ordered_pairs(summary["pair"].unique())
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    cell = {(r.pair, r.optimizer): r for r in summary.itertuples()}
    session = meta["sessions"][0]
    machine = session["machine"]
    training = meta["training"]
    seeds = sorted(int(s) for s in results["seed"].unique())
    lines = ["# VT benchmark: the study's Table 3 reproduced with kvt", ""]
    goals = ", ".join(f"{PAIR_LABEL.get(p, p)} {study_best_mse(p):g}" for p in pairs if f"{p}_mse" in STUDY_VT)
    lines.append(f"Validation MSE on the min-max scaled target (mean ± std over seeds {', '.join(map(str, seeds))}) "
                 "and training time in seconds, beside the study's single-run values (\"study\"). "
                 f"✓: kvt's mean is at or below the study's best value for that pair ({goals}).")
    lines.append("")
    settings_text = ("quick settings (for tests; not comparable with the study): " if training.get("quick") else "") + \
        f"epochs {training['epochs'] or 1000} max, patience {training['patience'] or 100}, " \
        f"{training['units'] or 64} units, batch 32, validation 20 %, registry default hyper-parameters"
    lines.append(f"Settings: {settings_text}. Machine: {machine['platform']}, {machine['cpu_count']} CPU cores, "
                 f"TensorFlow {machine['versions'].get('tensorflow')}, load average at start "
                 f"{machine.get('load_average_1_5_15')}.")
    lines.append("")
    header = ["optimizer"]
    for pair in pairs:
        label = PAIR_LABEL.get(pair, pair)
        header += [f"{label} MSE", "study", f"{label} time, s", "study"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for optimizer in optimizers:
        row = [optimizer]
        for pair in pairs:
            r = cell.get((pair, optimizer))
            if r is None:
                row += ["", "", "", ""]
                continue
            mse = _pm(r.mse_mean, r.mse_std)
            if r.ok < r.runs:
                mse += f" ({r.runs - r.ok}/{r.runs} diverged)"
            if r.meets_goal:
                mse += " ✓"
            row += [mse, _fmt(r.study_mse), _pm(r.time_mean, r.time_std, ".2f"), _fmt(r.study_time)]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    met = summary[summary["meets_goal"]]
    missed = summary[~summary["meets_goal"]]
    lines.append("## Goal: every optimizer at or below the study's best MSE per pair")
    lines.append("")
    lines.append(f"Met (mean over seeds) in {len(met)} of {len(summary)} cells; "
                 f"every single seed met it in {int(summary['all_seeds_meet_goal'].sum())} of {len(summary)} cells.")
    if len(missed):
        lines.append("")
        lines.append("Cells that miss it: " + "; ".join(
            f"{r.optimizer} on {PAIR_LABEL.get(r.pair, r.pair)} ({_pm(r.mse_mean, r.mse_std)} vs {r.goal:g}"
            + (f", {r.runs - r.ok} of {r.runs} runs diverged" if r.ok < r.runs else "") + ")"
            for r in missed.itertuples()) + ".")
    partly = summary[summary["meets_goal"] & ~summary["all_seeds_meet_goal"]]
    if len(partly):
        lines.append("")
        lines.append("Met on the mean but not by every seed: " + "; ".join(
            f"{r.optimizer} on {PAIR_LABEL.get(r.pair, r.pair)} (worst seed {r.mse_max:.3g})"
            for r in partly.itertuples()) + ".")
    lines.append("")

    lines.append("## Accuracy in physical units (validation rows, mean over seeds)")
    lines.append("")
    header = ["optimizer"] + [f"{PAIR_LABEL.get(p, p)} {what}" for p in pairs
                              for what in ("MAE, m³/s", "median rel. err.", "max rel. err.", "epochs")]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for optimizer in optimizers:
        row = [optimizer]
        for pair in pairs:
            r = cell.get((pair, optimizer))
            row += ["", "", "", ""] if r is None else [
                _fmt(r.mae_mean, ".3g"), _fmt(r.rel_median_mean, ".3g"), _fmt(r.rel_max_mean, ".3g"),
                _fmt(r.epochs_mean, ".0f")]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")

    if "target_mse" in summary and summary["target_mse"].notna().any():
        target = float(summary["target_mse"].dropna().iloc[0])
        lines.append(f"## Time to target: validation MSE ≤ {target:g}")
        lines.append("")
        lines.append("Seconds and epochs until the validation MSE first reached the target "
                     "(mean over the seeds that reached it; k/n = seeds that reached it).")
        lines.append("")
        header = ["optimizer"] + [f"{PAIR_LABEL.get(p, p)} {w}" for p in pairs for w in ("time, s", "epochs")]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for optimizer in optimizers:
            row = [optimizer]
            for pair in pairs:
                r = cell.get((pair, optimizer))
                if r is None or not getattr(r, "target_reached", 0):
                    row += ["not reached" + (f" (0/{r.runs})" if r is not None else ""), "—"]
                else:
                    row += [f"{r.target_time_mean:.2f} ({r.target_reached}/{r.runs})", f"{r.target_epoch_mean:.0f}"]
            lines.append("| " + " | ".join(row) + " |")
        lines.append("")

    lines.append("## Figures")
    lines.append("")
    for pair in pairs:
        lines.append(f"- `val_loss_{pair}.png`: validation-loss curves of every optimizer on "
                     f"{PAIR_LABEL.get(pair, pair)} (seed 0, rolling median, log scale)")
    lines.append("- `mse.png`: validation MSE per optimizer and pair "
                 "(mean ± std; ✕ the study; dashed: study's best)")
    lines.append("- `time.png`: training time per optimizer and pair (mean ± std; ✕ the study)")
    for pair, info in (best or {}).items():
        retrained = info.get("retrained_mse")
        note = (f"; retrained for the figure: {retrained:.3g}" if retrained is not None
                and not math.isclose(retrained, info["mse"], rel_tol=1e-3) else "")
        lines.append(f"- `k_vt_32_{pair}.png`: k_VT(32→31)(T) on {PAIR_LABEL.get(pair, pair)} by the best "
                     f"optimizer (lowest mean MSE), {info['optimizer']}, its best seed {info['seed']} "
                     f"(validation MSE {info['mse']:.3g}{note})")
    lines.append("")
    diverged = results[results["status"] != "ok"]
    if len(diverged):
        lines.append("## Diverged runs")
        lines.append("")
        for r in diverged.itertuples():
            lines.append(f"- {r.pair} {r.optimizer} seed {r.seed}: {r.message}")
        lines.append("")
    return "\n".join(lines)


# ---------------------------------------------------------------- figures
def _smoothed(values: pd.Series, window: int = SMOOTHING) -> pd.Series:
    """A centred rolling median (the validation loss of small-batch training is very noisy), positive only."""
    values = values.where(values > 0)
    return values.rolling(window, center=True, min_periods=1).median()


def _style(index: int, name: str):
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab20").colors
    return {"color": colors[index % len(colors)], "linestyle": "-" if name in STUDY_VT.index else "--"}


def vt_loss_figure(out: Path, pair: str, optimizers: list[str]):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8.0, 4.6))
    for index, optimizer in enumerate(optimizers):
        files = sorted((out / "curves").glob(f"{pair}__{optimizer}__*.csv"))
        path = out / "curves" / _curve_name(pair, optimizer, 0)
        path = path if path.exists() else (files[0] if files else None)
        if path is None:
            continue
        curve = pd.read_csv(path)
        ax.plot(curve["epoch"], _smoothed(curve["val_loss"]), lw=1.1, label=optimizer, **_style(index, optimizer))
    if f"{pair}_mse" in STUDY_VT:
        ax.axhline(study_best_mse(pair), color="k", lw=0.8, ls=":", label=f"study's best ({study_best_mse(pair):g})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE (scaled target)")
    ax.set_title(f"{PAIR_LABEL.get(pair, pair)}: validation loss of every optimizer "
                 f"(seed 0, rolling median of {SMOOTHING} points)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, ncol=1 if len(optimizers) <= 16 else 2)
    return fig


def _grouped_bars(summary: pd.DataFrame, value: str, error: str, study: str, ylabel: str, title: str,
                  log: bool, goal: bool):
    import matplotlib.pyplot as plt

    pairs = _ordered_pairs(summary["pair"].unique())
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    colors = {pair: plt.get_cmap("tab10").colors[i] for i, pair in enumerate(pairs)}
    width = 0.8 / len(pairs)
    fig, ax = plt.subplots(figsize=(max(6.0, 0.5 * len(optimizers) + 2), 4.4))
    x = np.arange(len(optimizers))
    for i, pair in enumerate(pairs):
        part = summary[summary["pair"] == pair].set_index("optimizer").reindex(optimizers)
        positions = x - 0.4 + width * (i + 0.5)
        ax.bar(positions, part[value], width, yerr=part[error].fillna(0), capsize=2, color=colors[pair],
               label=PAIR_LABEL.get(pair, pair), error_kw={"lw": 0.8})
        studied = part[study].notna()
        if studied.any():
            ax.plot(positions[studied.to_numpy()], part[study][studied], "x", color="k", ms=5,
                    label="study" if i == 0 else None)
        if goal and f"{pair}_mse" in STUDY_VT:
            ax.axhline(study_best_mse(pair), color=colors[pair], ls="--", lw=0.9)
    ax.set_xticks(x)
    ax.set_xticklabels(optimizers, rotation=60, ha="right")
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, axis="y", which="both", alpha=0.25)
    ax.legend(fontsize=8)
    return fig


def _best_per_pair(summary: pd.DataFrame, results: pd.DataFrame) -> dict:
    best = {}
    for pair in _ordered_pairs(summary["pair"].unique()):
        part = summary[(summary["pair"] == pair) & (summary["ok"] > 0)].dropna(subset=["mse_mean"])
        if part.empty:
            continue
        optimizer = part.sort_values(["mse_mean", "optimizer"]).iloc[0]["optimizer"]
        runs = results[(results["pair"] == pair) & (results["optimizer"] == optimizer) & (results["status"] == "ok")]
        run = runs.sort_values(["val_mse_scaled", "seed"]).iloc[0]
        best[pair] = {"optimizer": optimizer, "seed": int(run["seed"]), "mse": float(run["val_mse_scaled"])}
    return best


def vt_level_figure(out: Path, pair: str, info: dict, training: dict, level: int = 32):
    """Retrain the best optimizer's best seed (deterministic), save the run, draw k_VT(level)."""
    from kvt.outputs import plots
    from kvt.outputs.rundir import open_run, save_run

    settings = VTSettings(pairs=[pair], optimizers=[info["optimizer"]], quick=training.get("quick", False),
                          epochs=training.get("epochs"), units=training.get("units"),
                          patience=training.get("patience")).resolved()
    result = train_vt(settings, pair, info["optimizer"], info["seed"])
    tmp = Path(tempfile.mkdtemp(prefix=".best-run.", dir=out))
    try:
        run = open_run(save_run(result, tmp / "run", plot_level=level))
        fig = plots.level_figure(run, level)
        fig.axes[0].set_title(f"{PAIR_LABEL.get(pair, pair)}: $k_{{VT}}^{{{level}\\to{level - 1}}}(T)$, best optimizer "
                              f"{info['optimizer']} (seed {info['seed']}, val. MSE "
                              f"{result.metrics['val_mse_scaled']:.3g})", fontsize=10)
        _save_png(fig, out / f"k_vt_{level}_{pair}.png")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return result.metrics["val_mse_scaled"]


def report_vt(out: str | Path, log: Callable[[str], None] | None = None, level_figures: bool = True) -> pd.DataFrame:
    """(Re)write results.md and the figures of a VT benchmark folder from its results.csv."""
    out = Path(out)
    log = log or (lambda message: None)
    meta = json.loads((out / "bench.json").read_text())
    results = read_results(out / "results.csv", VT_COLUMNS)
    if results.empty:
        raise KvtError(f"{out}/results.csv has no finished runs to report")
    results["seed"] = results["seed"].astype(int)
    summary = vt_summary(results)
    pairs = _ordered_pairs(summary["pair"].unique())
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    for pair in pairs:
        _save_png(vt_loss_figure(out, pair, optimizers), out / f"val_loss_{pair}.png")
    _save_png(_grouped_bars(summary, "mse_mean", "mse_std", "study_mse", "validation MSE (scaled target)",
                            "Validation MSE per optimizer (mean ± std; ✕ study; dashed: study's best)", True, True),
              out / "mse.png")
    _save_png(_grouped_bars(summary, "time_mean", "time_std", "study_time", "training time, s",
                            "Training time per optimizer (mean ± std; ✕ study)", False, False), out / "time.png")
    best = _best_per_pair(summary, results)
    if level_figures:
        for pair, info in best.items():
            log(f"k_VT(32→31) figure for {pair}: retraining {info['optimizer']} seed {info['seed']}")
            try:
                info["retrained_mse"] = vt_level_figure(out, pair, info, meta["training"])
            except KvtError as exc:
                log(f"could not draw k_VT for {pair}: {exc}")
    atomic.write_text(out / "results.md", vt_markdown(results, summary, meta, best) + "\n", force=True)
    atomic.write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g", lineterminator="\n"),
                      force=True)
    return results


# ---------------------------------------------------------------- synthetic benchmark
def synthetic_data(rows: int, seed: int) -> tuple[tuple[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
    """The three inputs and the (rows, 2) targets described in the module docstring."""
    spec = SYNTHETIC
    u = np.random.default_rng(seed).random((rows, spec["columns"]))
    noise = np.random.default_rng([seed, 1]).standard_normal((rows, 2))
    task = np.random.default_rng(spec["task_seed"])
    z = (u - 0.5) * np.sqrt(12.0)
    s = [z[:, a:b] @ task.standard_normal(b - a) / np.sqrt(b - a) for a, b in spec["groups"]]
    y1 = np.tanh(2.0 * s[0]) + 0.5 * s[1] * s[2]
    y2 = np.sin(s[1]) + 0.5 * (s[0] ** 2 - 1.0) + 0.3 * s[2]
    y = np.stack([y1, y2], axis=1)
    y = (y - y.mean(axis=0)) / y.std(axis=0) + spec["noise"] * noise
    inputs = tuple(u[:, a:b].astype("float32") for a, b in spec["groups"])
    return inputs, y.astype("float32")


def _synthetic_model_class():
    import keras

    from kvt.optimizers import protocol
    from kvt.optimizers.kfac import is_kfac_dense

    class SyntheticNet(keras.Model):
        """Three inputs -> own Dense each -> concatenate -> Dense -> two Dense(1) heads.

        ``train_step`` follows kvt's train-step protocol like kvt's network: an optimizer
        with its own ``train_step`` (AdaHessian draws from ``step_seed``; K-FAC's Dense
        inputs and pre-activation gradients come from :meth:`forward_with_dense_records`)
        takes the step, any other trains through Keras's own step.
        """

        def __init__(self, units: int, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.branches = [keras.layers.Dense(units, activation="relu", name=f"input_{i + 1}_dense")
                             for i in range(3)]
            self.concatenate = keras.layers.Concatenate(name="concatenate")
            self.shared = keras.layers.Dense(units, activation="relu", name="shared_dense")
            self.heads = [keras.layers.Dense(1, name=f"head_{i + 1}") for i in range(2)]
            self.step_seed = keras.random.SeedGenerator(seed, name="hutchinson_seed")

        def forward_with_dense_records(self, inputs, training=True):
            records = []

            def dense(layer, a):
                a = keras.ops.cast(a, layer.compute_dtype)
                s = keras.ops.add(keras.ops.matmul(a, layer.kernel), layer.bias)
                records.append((layer, a, s))
                return layer.activation(s)

            branches = [dense(layer, x) for layer, x in zip(self.branches, inputs)]
            shared = dense(self.shared, self.concatenate(branches))
            heads = [dense(layer, shared) for layer in self.heads]
            assert all(is_kfac_dense(layer) for layer, _, _ in records)
            return keras.ops.concatenate(heads, axis=1), records

        def call(self, inputs, training=False):
            branches = [layer(x) for layer, x in zip(self.branches, inputs)]
            shared = self.shared(self.concatenate(branches))
            return keras.ops.concatenate([head(shared) for head in self.heads], axis=1)

        def train_step(self, data):
            return protocol.train_step(self, data, super().train_step)

    return SyntheticNet


def train_synthetic(settings: SyntheticSettings, optimizer_name: str, seed: int) -> dict:
    """One synthetic run: metrics and the history. Raises KvtError if the loss diverges."""
    import keras

    from kvt import optimizers
    from kvt.training.callbacks import stop_on_nan
    from kvt.training.trainer import _epoch_timer, seed_everything, split_indices

    spec = SYNTHETIC
    keras.backend.clear_session()
    inputs, y = synthetic_data(settings.rows, seed)
    train_idx, val_idx = split_indices(settings.rows, spec["val_fraction"], seed)
    seed_everything(seed)
    model = _synthetic_model_class()(settings.units, seed=seed, name="synthetic")
    model(tuple(x[:1] for x in inputs))  # build the variables
    steps = math.ceil(len(train_idx) / spec["batch_size"])
    model.compile(optimizer=optimizers.get(optimizer_name), loss="mse",
                  metrics=[keras.metrics.LogCoshError(name="log_cosh")], steps_per_execution=steps)
    import tensorflow as tf

    train_data = (tf.data.Dataset.from_tensor_slices((tuple(x[train_idx] for x in inputs), y[train_idx]))
                  .cache().shuffle(len(train_idx), seed=seed, reshuffle_each_iteration=True)
                  .batch(spec["batch_size"]).prefetch(tf.data.AUTOTUNE))
    val_data = tf.data.Dataset.from_tensor_slices((tuple(x[val_idx] for x in inputs), y[val_idx])) \
        .batch(len(val_idx)).cache()
    timer = _epoch_timer()
    callbacks = [stop_on_nan(), timer,  # silent: kvt raises its own error for a diverged run
                 keras.callbacks.EarlyStopping(monitor="val_loss", patience=spec["patience"],
                                               min_delta=spec["min_delta"], restore_best_weights=True)]
    started = time.perf_counter()
    fit = model.fit(train_data, validation_data=val_data, epochs=settings.epochs, callbacks=callbacks,
                    shuffle=False, verbose=0)
    wall = time.perf_counter() - started
    history = pd.DataFrame(fit.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    history["time_s"] = timer.times[: len(history)]
    losses = history[["loss", "val_loss"]].to_numpy()
    if not np.all(np.isfinite(losses)):
        raise KvtError(f"training diverged (loss is NaN or infinite) with optimizer '{optimizer_name}'")
    best = int(history["val_loss"].idxmin())
    return {"history": history, "val_loss": float(history["val_loss"].iloc[best]),
            "val_log_cosh": float(history["val_log_cosh"].iloc[best]), "train_loss": float(history["loss"].iloc[best]),
            "epochs": int(len(history)), "best_epoch": best + 1, "wall_time_s": wall,
            "steps_per_second": len(history) * steps / wall}


def run_synthetic(settings: SyntheticSettings, out: str | Path, force: bool = False, resume: bool = False,
                  log: Callable[[str], None] | None = None, train_fn: Callable | None = None) -> pd.DataFrame:
    """Run the synthetic benchmark into ``out`` and write its report; returns the results table."""
    settings = settings.resolved()
    out = Path(out)
    log = log or (lambda message: None)
    train_fn = train_fn or train_synthetic
    invocation = {"optimizers": settings.optimizers, "repeats": settings.repeats}
    meta = _prepare_output(out, "synthetic", settings.training(), invocation, force, resume)
    with _output_folder(out, force, resume) as work:
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


def synthetic_summary(results: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for optimizer, group in results.groupby("optimizer", sort=False):
        ok = group[group["status"] == "ok"]
        time_mean, time_std = _mean_std(ok["wall_time_s"])
        epochs_mean, epochs_std = _mean_std(ok["epochs"])
        study = STUDY_SYNTHETIC.loc[optimizer] if optimizer in STUDY_SYNTHETIC.index else None
        rows.append({"optimizer": optimizer, "runs": len(group), "ok": len(ok), "time_mean": time_mean,
                     "time_std": time_std, "epochs_mean": epochs_mean, "epochs_std": epochs_std,
                     "best_epoch_mean": _mean_std(ok["best_epoch"])[0],
                     "val_loss_mean": _mean_std(ok["val_loss"])[0], "val_loss_std": _mean_std(ok["val_loss"])[1],
                     "val_log_cosh_mean": _mean_std(ok["val_log_cosh"])[0],
                     "steps_per_second": _mean_std(ok["steps_per_second"])[0],
                     "study_time": study["time_s"] if study is not None else math.nan,
                     "study_time_std": study["time_std_s"] if study is not None else math.nan,
                     "study_epochs": study["epochs"] if study is not None else math.nan})
    return pd.DataFrame(rows)


def synthetic_markdown(results: pd.DataFrame, summary: pd.DataFrame, meta: dict) -> str:
    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    cell = {r.optimizer: r for r in summary.itertuples()}
    machine = meta["sessions"][0]["machine"]
    training = meta["training"]
    seeds = sorted(int(s) for s in results["seed"].unique())
    lines = ["# Synthetic benchmark: the study's Table 2 reproduced with kvt", ""]
    lines.append(f"Training time (s) and epochs until early stopping, mean ± std over seeds "
                 f"{', '.join(map(str, seeds))}, beside the study's values. Best epoch: the epoch of the lowest "
                 "validation loss (early stopping then waits 5 more epochs). Validation MSE (mean over the two "
                 f"targets; the noise floor is {SYNTHETIC['noise'] ** 2:g}) and log-cosh at the best epoch.")
    lines.append("")
    quick = "Quick settings (for tests; not comparable with the study): "
    lines.append((quick if training.get("quick") else "Settings: ")
                 + f"{training['rows']} × {SYNTHETIC['columns']} uniform [0, 1) data, inputs = columns "
                 + ", ".join(f"{a}–{b - 1}" for a, b in SYNTHETIC["groups"])
                 + f", two targets = fixed nonlinear functions of the inputs + {SYNTHETIC['noise']:g} × N(0, 1) noise "
                 f"(see kvt/bench.py); {training['units']} units per Dense layer; batch {SYNTHETIC['batch_size']}; "
                 f"validation 20 %; at most {training['epochs']} epochs; early stopping patience "
                 f"{SYNTHETIC['patience']}, min_delta {SYNTHETIC['min_delta']:g}; registry default hyper-parameters. "
                 f"Machine: {machine['platform']}, {machine['cpu_count']} CPU cores, load average at start "
                 f"{machine.get('load_average_1_5_15')}.")
    lines.append("")
    header = ["optimizer", "time, s", "study time, s", "epochs", "study epochs", "best epoch", "val. MSE",
              "val. log-cosh", "steps/s"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for optimizer in optimizers:
        r = cell[optimizer]
        epochs = _pm(r.epochs_mean, r.epochs_std, ".1f")
        capped = int(((results["optimizer"] == optimizer) & (results["status"] == "ok")
                      & (results["epochs"] >= training["epochs"])).sum())
        if capped:
            epochs += f" ({capped}/{r.runs} hit the {training['epochs']}-epoch cap)"
        if r.ok < r.runs:
            epochs += f" ({r.runs - r.ok}/{r.runs} diverged)"
        lines.append("| " + " | ".join([
            optimizer, _pm(r.time_mean, r.time_std, ".2f"),
            _pm(r.study_time, r.study_time_std, ".3g") if np.isfinite(r.study_time) else "—",
            epochs, _fmt(r.study_epochs, ".0f"), _fmt(r.best_epoch_mean, ".1f"),
            _pm(r.val_loss_mean, r.val_loss_std, ".3g"), _fmt(r.val_log_cosh_mean, ".3g"),
            _fmt(r.steps_per_second, ".0f")]) + " |")
    lines.append("")
    lines.append("Every registry optimizer runs here: AdaHessian, SAM and K-FAC through the synthetic "
                 "network's own train step (Hutchinson estimates, two-pass step, Dense-layer factors). "
                 "A run that hits the epoch cap had not converged: its time and epochs are lower bounds.")
    lines.append("")
    lines.append("Figures: `synthetic_time_epochs.png` (time and epochs per optimizer, ✕ the study), "
                 "`synthetic_val_loss.png` (validation-loss curves, seed 0).")
    diverged = results[results["status"] != "ok"]
    if len(diverged):
        lines.append("")
        lines.append("Diverged runs: " + "; ".join(f"{r.optimizer} seed {r.seed}: {r.message}"
                                                   for r in diverged.itertuples()))
    lines.append("")
    return "\n".join(lines)


def synthetic_figures(out: Path, summary: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    optimizers = _ordered_optimizers(summary["optimizer"].unique())
    part = summary.set_index("optimizer").reindex(optimizers)
    x = np.arange(len(optimizers))
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 0.6 * len(optimizers) + 3), 4.2))
    for ax, value, error, study, label in ((axes[0], "time_mean", "time_std", "study_time", "training time, s"),
                                           (axes[1], "epochs_mean", "epochs_std", "study_epochs", "epochs")):
        ax.bar(x, part[value], 0.7, yerr=part[error].fillna(0), capsize=2, color="tab:blue", label="kvt",
               error_kw={"lw": 0.8})
        studied = part[study].notna().to_numpy()
        if studied.any():
            ax.plot(x[studied], part[study][studied], "x", color="k", ms=6, label="study")
        ax.set_xticks(x)
        ax.set_xticklabels(optimizers, rotation=60, ha="right")
        ax.set_ylabel(label)
        ax.grid(True, axis="y", alpha=0.25)
        ax.legend(fontsize=8)
    fig.suptitle("Synthetic test: time and epochs until early stopping (mean ± std)")
    _save_png(fig, out / "synthetic_time_epochs.png")

    fig, ax = plt.subplots(figsize=(8.0, 4.6))
    for index, optimizer in enumerate(optimizers):
        files = sorted((out / "curves").glob(f"{optimizer}__*.csv"))
        if not files:
            continue
        curve = pd.read_csv(files[0])
        ax.plot(curve["epoch"], _smoothed(curve["val_loss"], 3), lw=1.1, label=optimizer, **_style(index, optimizer))
    ax.axhline(SYNTHETIC["noise"] ** 2, color="k", ls=":", lw=0.8, label="noise floor")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("validation MSE")
    ax.set_title("Synthetic test: validation loss (first seed, rolling median of 3 epochs)", fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7, ncol=1 if len(optimizers) <= 16 else 2)
    _save_png(fig, out / "synthetic_val_loss.png")


def report_synthetic(out: str | Path) -> pd.DataFrame:
    """(Re)write results.md and the figures of a synthetic benchmark folder from its results.csv."""
    out = Path(out)
    meta = json.loads((out / "bench.json").read_text())
    results = read_results(out / "results.csv", SYNTHETIC_COLUMNS)
    if results.empty:
        raise KvtError(f"{out}/results.csv has no finished runs to report")
    results["seed"] = results["seed"].astype(int)
    summary = synthetic_summary(results)
    synthetic_figures(out, summary)
    atomic.write_text(out / "results.md", synthetic_markdown(results, summary, meta) + "\n", force=True)
    atomic.write_text(out / "summary.csv", summary.to_csv(index=False, float_format="%.6g", lineterminator="\n"),
                      force=True)
    return results
