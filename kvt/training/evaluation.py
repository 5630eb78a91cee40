"""The evaluation of a new run: what its trained network predicts and whether that is good physics.

:func:`kvt.training.trainer.train` fits; this module judges the result, on the TF-free twin of
the network (:class:`kvt.network.inference.Network`) built from the exported weights document,
so that it sees exactly what a user of the run's files gets:

* the predictions on every row of the table, with their split and relative error;
* the error summaries (scaled MSE of each split, the relative errors of ``val`` and ``all``);
* the physics checks of :mod:`kvt.kinetics`: the k ≤ 0 region of the dense grid, and for a known
  pair the dense-grid accuracy against FHO-FR and the relaxation check (:func:`physics_checks`,
  the one place that calls kinetics).

:func:`evaluate_run` returns a plain :class:`RunEvaluation`; the trainer puts its pieces into the
:class:`~kvt.training.trainer.TrainResult` (the order of the metrics' keys is the trainer's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kvt.data.datasets import Dataset
from kvt.training.config import TrainConfig


@dataclass
class RunEvaluation:
    """What :func:`evaluate_run` found; ``errors`` and ``physics`` are metrics entries, in their order."""

    predictions: pd.DataFrame  # level, T_K, k_true_m3_s, k_pred_m3_s, rel_error, split ("train"/"val")
    errors: dict[str, Any]  # val_mse_scaled, train_mse_scaled, val, all (None entries without a validation split)
    physics: dict[str, Any]  # nonphysical; with a known pair also dense_grid and relaxation


def relative_error(k_pred, k_true) -> np.ndarray:
    return np.abs(np.asarray(k_pred) - np.asarray(k_true)) / np.asarray(k_true)


def error_summary(k_pred, k_true) -> dict[str, float]:
    rel = relative_error(k_pred, k_true)
    return {
        "mae_m3_s": float(np.mean(np.abs(np.asarray(k_pred) - np.asarray(k_true)))),
        "rel_err_median": float(np.median(rel)),
        "rel_err_p95": float(np.percentile(rel, 95)),
        "rel_err_max": float(np.max(rel)),
    }


def evaluate_run(weights: dict[str, Any], dataset: Dataset, prep, config: TrainConfig) -> RunEvaluation:
    """Evaluate the network of ``weights`` (the exported document) on ``dataset``.

    ``prep``: the :class:`kvt.training.trainer.PreparedData` the network was fitted on (its fitted
    transform, scaled targets and train/validation split); ``config``: the run's resolved config.
    """
    from kvt.network.inference import Network

    frame = dataset.frame
    features, k_true, transform, y = prep.features, prep.k_true, prep.transform, prep.y
    train_idx, val_idx, has_val = prep.train_idx, prep.val_idx, prep.has_val
    network = Network(weights)
    inputs = {name: frame[name].to_numpy() for name in dataset.features}  # VT: level, T_K; VV: level_a, level_b, T_K
    k_pred = network.predict_k(*inputs.values())
    y_pred = transform.transform_target(np.where(k_pred > 0, k_pred, np.nan), features) \
        if config.mode == "accurate" else transform.transform_target(k_pred)
    split_labels = np.full(len(frame), "train", dtype=object)
    split_labels[val_idx] = "val"
    predictions = pd.DataFrame({
        **inputs,
        "k_true_m3_s": k_true,
        "k_pred_m3_s": k_pred,
        "rel_error": relative_error(k_pred, k_true),
        "split": split_labels,
    })
    errors = {
        "val_mse_scaled": float(np.mean((y_pred[val_idx, 0] - y[val_idx, 0]) ** 2)) if has_val else None,
        "train_mse_scaled": float(np.mean((y_pred[train_idx, 0] - y[train_idx, 0]) ** 2)),
        "val": error_summary(k_pred[val_idx], k_true[val_idx]) if has_val else None,
        "all": error_summary(k_pred, k_true),
    }
    return RunEvaluation(predictions=predictions, errors=errors,
                         physics=physics_checks(network, dataset.process))


def physics_checks(network, process) -> dict[str, Any]:
    """The :mod:`kvt.kinetics` checks of ``network``: ``nonphysical`` (the k ≤ 0 region of the dense grid)
    and, for a known ``process`` (:class:`kvt.physics.process.Process`), ``dense_grid`` (accuracy against FHO-FR)
    and ``relaxation``."""
    from kvt.kinetics import validity

    if network.process is not None:  # an exchange network (VV, VV'): its own grid of level pairs
        from kvt.kinetics import exchange

        return exchange.physics_checks(network, process)
    checks = {"nonphysical": validity.dense_grid_region(network)}
    if process is not None:
        from kvt.kinetics.accuracy import evaluate_network, json_summary

        checks["dense_grid"] = json_summary(evaluate_network(network, process))
        checks["relaxation"] = validity.relaxation_check(network, process)
    return checks
