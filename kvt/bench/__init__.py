"""Reproduce the study's optimizer comparison: the VT benchmark and the synthetic test.

Two benchmarks, each writing one output folder:

``run_vt`` (``kvt bench vt``)
    Trains every chosen optimizer on every chosen collision pair with the study's
    pipeline (:func:`kvt.training.trainer.train` in ``study`` mode: min-max scaled target,
    batch 32, 20 % validation, 64 units) under one of three protocols
    (:data:`kvt.bench.settings.PROTOCOL_PRESETS`): ``study`` (the study's budget: 30
    epochs, no early stopping, registry defaults, 5 seeds), ``defaults`` (at most 1000
    epochs, early stopping with patience 100, registry defaults, 3 seeds) and ``tuned``
    (per optimizer x pair a Keras Tuner random search of 16 trials over the optimizer's
    declared space, scored on the validation split of the rows left after whole
    temperatures — 750, 2500, 7000 K — are held out; then 5 seeds of the best
    configuration, scored on the held-out rows; 60 epochs, patience 20). Every run records
    the scaled MSE, the dense-grid relative error against FHO-FR, the share of
    non-positive predictions, the relaxation-time error at 1000 and 5000 K and the steps
    and seconds until the validation MSE reached 0.004 and the dense-grid median relative
    error 5 %. The study's Table 3 is :data:`STUDY_VT`; the statistics over seeds
    (median, IQR, bootstrap interval of the median, Mann–Whitney U against Adam, ranks
    with ties) and the Dolan–Moré performance profiles are in :mod:`kvt.bench.statistics`.

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
    the network follows kvt's train-step protocol (:mod:`kvt.network.protocol`), so
    AdaHessian, SAM and K-FAC take their own steps (Hessian-vector products, a second
    gradient pass, Dense-layer statistics) exactly as on kvt's VT network.

Output folders (both benchmarks)::

    .kvt-artifact.json  the marker saying kvt wrote it (kind "bench"; kvt.files.atomic)
    bench.json      settings, machine (platform, cores, load) and versions
    results.csv     one row per run, appended (and fsynced) as each run finishes
    trials.csv      the tuned protocol's search trials (every one), appended per cell
    curves/         validation-loss history of the first seed of every cell (thinned)
    results.md      the tables beside the study's       (written atomically at the end)
    *.png           figures                             (written atomically at the end)

An interrupted benchmark keeps every finished row; ``resume=True`` skips the
(pair, optimizer, seed) rows already in ``results.csv`` and runs the rest (a tuned cell
whose trials are in ``trials.csv`` trains their best instead of searching again). ``force``
replaces only an earlier kvt benchmark folder, and only once the new one is
complete (:func:`kvt.files.atomic.directory`). A run
that diverges (:class:`kvt.KvtError` from training) is recorded with status
``diverged`` and the benchmark goes on.

Modules: :mod:`~kvt.bench.study` (the study's tables), :mod:`~kvt.bench.settings`
(what runs: the protocols, quick presets), :mod:`~kvt.bench.tuned` (the held-out split
and the search), :mod:`~kvt.bench.records` (bench.json, results.csv, trials.csv,
curves), :mod:`~kvt.bench.runs` (one optimizer x pair cell and its rows), :mod:`~kvt.bench.synthetic` (the
synthetic data, network and run), :mod:`~kvt.bench.benchmark` (``run_vt``,
``run_synthetic``), :mod:`~kvt.bench.stats` (means per cell), :mod:`~kvt.bench.statistics`
(medians, bootstrap intervals, Mann–Whitney tests, ranks, performance profiles),
:mod:`~kvt.bench.report` (results.md) with :mod:`~kvt.bench.report_statistics` (its
statistics sections), and :mod:`~kvt.bench.figures`.
"""


import importlib

# Where each public name lives. They are imported on first use (PEP 562), not with the package, so
# that ``kvt bench`` can check its settings and output folder before TensorFlow is imported.
_PUBLIC = {"run_synthetic": "benchmark", "run_vt": "benchmark",
           "SYNTHETIC_COLUMNS": "records", "VT_COLUMNS": "records", "VT_REQUIRED": "records",
           "read_results": "records", "report_synthetic": "report", "report_vt": "report",
           "SyntheticSettings": "settings", "VTSettings": "settings", "synthetic_summary": "stats",
           "vt_summary": "stats", "STUDY_PAIR_ORDER": "study", "STUDY_SYNTHETIC": "study", "STUDY_VT": "study"}

__all__ = sorted(_PUBLIC)


def __getattr__(name):
    if name in _PUBLIC:
        return getattr(importlib.import_module(f"kvt.bench.{_PUBLIC[name]}"), name)
    raise AttributeError(f"module 'kvt.bench' has no attribute {name!r}")
