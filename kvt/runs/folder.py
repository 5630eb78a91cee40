"""Run directories: everything a training run leaves to reproduce it and predict later.

    model.keras        the trained network (with its optimizer)
    weights.json       the network for TF-free inference (kvt.network.inference schema)
    scaler.json        feature/target transform parameters (VTScaler / LogSpaceTransform)
    metadata.json      options, seed, versions, dataset hash, split, metrics, wall time
    history.csv        per-epoch losses and metrics
    predictions.csv    every dataset row: level, T, k true, k predicted, relative error, split
    k_level_<i>.png    k_VT(T) of one transition, data vs model
    loss.png           training/validation loss curves
    relative_error.png relative error over (level, T)
    .kvt-artifact.json the marker saying kvt wrote it (kind "run"; kvt.files.atomic)

The directory is built in a temporary folder and renamed into place at the end.
Run directories of older kvt versions (no marker) are read the same way.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import sys
from dataclasses import dataclass
from importlib import metadata as _metadata
from pathlib import Path
from typing import Any

from kvt import __version__
from kvt.files import atomic
from kvt.errors import KvtError

MODEL_FILE = "model.keras"
WEIGHTS_FILE = "weights.json"
SCALER_FILE = "scaler.json"
METADATA_FILE = "metadata.json"
HISTORY_FILE = "history.csv"
PREDICTIONS_FILE = "predictions.csv"
REQUIRED_FILES = (MODEL_FILE, WEIGHTS_FILE, SCALER_FILE, METADATA_FILE)
VERSIONED_PACKAGES = ("tensorflow", "keras", "numpy", "pandas", "scikit-learn", "matplotlib", "click")


def package_versions() -> dict[str, str]:
    versions = {"kvt": __version__, "python": sys.version.split()[0]}
    for name in VERSIONED_PACKAGES:
        try:
            versions[name] = _metadata.version(name)
        except _metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def default_run_dir(dataset_name: str, optimizer: str, root: str | Path = "runs") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(root) / f"{dataset_name}-{optimizer}-{stamp}"


def build_metadata(result, command: list[str] | None = None) -> dict[str, Any]:
    from kvt.training.config import config_dict

    frame = result.dataset.frame
    return {
        "kvt_version": __version__,
        "created": _dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": command,
        "options": config_dict(result.config),
        "optimizer": {"name": result.config.optimizer, "hyperparameters": result.hyperparameters,
                      "config": _jsonable(result.model.optimizer.get_config())},
        "dataset": {
            "source": result.dataset.source,
            "pair": result.dataset.pair,
            "file": str(result.dataset.path),
            "sha256": result.dataset.sha256,
            "molecule": result.weights.get("molecule"),
            "rows": int(len(frame)),
            **{key: value.kind if key == "process" else value for key, value in result.dataset.ranges().items()},
        },
        "preprocessing": _preprocessing_record(result),
        "split": result.split,
        "metrics": result.metrics,
        "wall_time_s": result.wall_time_s,
        "versions": package_versions(),
        "platform": {"machine": platform.machine(), "system": platform.platform(),
                     "processor": platform.processor(),
                     # kvt caps oneDNN's instruction set so that a seed trains alike on every x86-64 machine
                     "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA")},
    }


def _preprocessing_record(result) -> dict:
    if result.config.mode == "study":
        return {"features": list(result.scaler.features), "feature_scaling": "MinMaxScaler",
                "target": "k * 1e18, then MinMaxScaler to [0, 1]", "fitted_on": "all rows (as in the study)"}
    from kvt.network.preprocessing import BASELINE_WEIGHT_T_K

    transform = result.scaler
    inputs = transform.network_inputs
    record = {"features": list(transform.feature_names), "feature_kind": transform.feature_kind,
              "network_inputs": [transform.feature_names[j] for j in inputs],
              "baseline_only_features": [name for j, name in enumerate(transform.feature_names)
                                         if j not in inputs],
              "feature_scaling": "MinMaxScaler",
              "target": "ln k minus a least-squares linear baseline in the scaled features (LinearRegression), "
                        "then StandardScaler",
              "baseline_row_weights": (f"(T_ref / T)^{transform.baseline_weight_power:g}, "
                                       f"T_ref = {BASELINE_WEIGHT_T_K:g} K"
                                       if transform.baseline_weight_power else "none"),
              "precision": result.config.precision,
              "training": f"{result.config.optimizer}, "
                          f"{'full batch' if result.config.batch_size == 0 else f'batch {result.config.batch_size}'}, "
                          f"{result.config.schedule} schedule, then {result.config.finish} finish",
              "fitted_on": "all rows"}
    if transform.feature_kind == "fho":
        record["feature_parameters"] = ("theta_K, theta1_K per level, steric_factor, nu of the pair "
                                        f"{result.dataset.pair} (kvt.physics.fho), stored in weights.json")
    elif transform.feature_kind == "exchange":
        record["feature_parameters"] = ("level energies of both molecules and the FHO VV constants c_P, c_lambda of "
                                        f"{result.dataset.process.label} (kvt.physics.fho_vv), stored in weights.json")
    else:
        record["feature_kind_reason"] = "no known collision pair (user CSV): the fho features need one"
    return record


def _jsonable(value):
    return json.loads(json.dumps(value, default=lambda o: o.item() if hasattr(o, "item") else str(o)))


def save_run(result, out: str | Path | None = None, force: bool = False, command: list[str] | None = None,
             plot_level: int | None = None, inputs=(), before_swap=None) -> Path:
    """Write ``result`` (a TrainResult) as a run directory, atomically. Returns its path.

    ``force`` replaces only a run directory kvt wrote, never one holding ``inputs``
    (the training data file); see :func:`kvt.files.atomic.check`. ``before_swap()``, called once every
    file is written and before the folder takes its name, may raise to write nothing (a second Ctrl-C
    whose own exception a finaliser swallowed: :meth:`kvt.training.interrupt.GracefulInterrupt.raise_if_aborted`).
    """
    from kvt.runs import figures

    out = Path(out) if out else default_run_dir(result.dataset.name, result.config.optimizer)
    metadata = build_metadata(result, command)
    with atomic.directory(out, "run", force=force, inputs=inputs) as tmp:
        result.model.save(tmp / MODEL_FILE)
        (tmp / WEIGHTS_FILE).write_text(json.dumps(result.weights))
        (tmp / SCALER_FILE).write_text(json.dumps(result.scaler.to_dict(), indent=2))
        (tmp / METADATA_FILE).write_text(json.dumps(metadata, indent=2))
        result.history.to_csv(tmp / HISTORY_FILE, index=False, float_format="%.9g")
        result.predictions.to_csv(tmp / PREDICTIONS_FILE, index=False, float_format="%.17g")
        from kvt.network.inference import Network

        run = Run(path=tmp, network=Network(result.weights), metadata=metadata)
        if run.network.process is not None:  # an exchange network: its own figures (kvt.runs.exchange_figures)
            from kvt.runs import exchange_figures

            for name, fig in exchange_figures.run_figures(run, result.predictions):
                figures.save_figure(fig, tmp / name)
        else:
            level = plot_level or figures.default_level(result.predictions)
            figures.save_figure(figures.level_figure(run, level), tmp / f"k_level_{level}.png")
            figures.save_figure(figures.error_figure(result.predictions, metadata), tmp / "relative_error.png")
        figures.save_figure(figures.loss_figure(result.history, metadata), tmp / "loss.png")
        if before_swap is not None:
            before_swap()
    return out


@dataclass
class Run:
    """An opened run directory: its TF-free network and its metadata."""

    path: Path
    network: Any  # kvt.network.inference.Network
    metadata: dict

    @property
    def level_range(self) -> tuple[int, int]:
        lo, hi = self.network.level_range
        return int(lo), int(hi)

    @property
    def temperature_range(self) -> tuple[float, float]:
        lo, hi = self.network.temperature_range
        return float(lo), float(hi)

    @property
    def molecule(self):
        """The network's molecule (kvt.physics.species.Molecule); O2, kvt's original molecule, when unknown."""
        from kvt.physics import species

        return self.network.molecule or species.MOLECULES["O2"]

    @property
    def process(self):
        """The VT process (:class:`kvt.physics.process.Process`) the run was trained on, as its files name it (the
        metadata's pair, else the weights'); None for a run on a user table that names none."""
        from kvt.physics.process import resolve

        if self.network.process is not None:  # an exchange network names its process
            return self.network.process
        pair = (self.metadata or {}).get("dataset", {}).get("pair") or self.network.spec.get("pair")
        return resolve(pair) if pair else None

    @property
    def label(self) -> str:
        pair = self.network.spec.get("pair")
        if pair:
            return pair
        return Path(self.metadata["dataset"]["file"]).stem if self.metadata else Path(self.path).stem


def input_files(path: str | Path) -> list[Path]:
    """The files of run directory ``path`` that commands read from it (never replaced by their ``-o``)."""
    path = Path(path)
    return [path / name for name in (*REQUIRED_FILES, HISTORY_FILE, PREDICTIONS_FILE, atomic.MARKER)]


def open_weights(path: str | Path) -> Run:
    """A weights file on its own (``kvt export --format weights``), as a Run without metadata."""
    from kvt.network.inference import Network

    return Run(path=Path(path), network=Network.load(path), metadata=None)


def read_metadata(path: str | Path) -> dict:
    path = Path(path)
    if path.is_file():
        raise KvtError(f"run directory {path} is a file, not a run directory (the folder kvt train writes)")
    if not path.is_dir():
        raise KvtError(f"run directory {path} does not exist")
    missing = [name for name in REQUIRED_FILES if not (path / name).is_file()]
    if missing:
        raise KvtError(f"run directory {path} is missing {', '.join(missing)}; is it a kvt train output?")
    try:
        metadata = json.loads((path / METADATA_FILE).read_text())
        metadata["dataset"]["level_range"], metadata["dataset"]["T_range_K"]  # noqa: B018
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise KvtError(f"run directory {path} has a corrupted {METADATA_FILE} ({exc.__class__.__name__})") from None
    return metadata


def open_run(path: str | Path) -> Run:
    """Open a run directory for prediction, without TensorFlow (numpy inference)."""
    from kvt.network.inference import Network

    path = Path(path)
    metadata = read_metadata(path)
    try:
        network = Network.load(path / WEIGHTS_FILE)
    except KvtError as exc:
        raise KvtError(f"run directory {path} has a corrupted {WEIGHTS_FILE} ({exc})") from None
    return Run(path=path, network=network, metadata=metadata)


def load_keras_model(path: str | Path):
    """The trained Keras model (with its optimizer) of a run directory."""
    path = Path(path)
    read_metadata(path)
    import keras

    import kvt.optimizers

    kvt.optimizers.import_all()  # registers kvt's serialisable optimizers and models

    try:
        return keras.models.load_model(path / MODEL_FILE)
    except Exception as exc:  # Keras raises many types for a damaged archive
        raise KvtError(f"run directory {path} has a corrupted {MODEL_FILE} "
                       f"({exc.__class__.__name__}: {str(exc).splitlines()[0][:200]})") from None


def load_transform(path: str | Path):
    """The fitted feature/target transform of a run directory (scaler.json)."""
    from kvt.network.preprocessing import transform_from_dict

    path = Path(path)
    try:
        return transform_from_dict(json.loads((path / SCALER_FILE).read_text()))
    except (json.JSONDecodeError, UnicodeDecodeError, KvtError, OSError) as exc:
        raise KvtError(f"run directory {path} has a corrupted {SCALER_FILE} ({exc})") from None
