"""Hyper-parameter search with Keras Tuner (``kvt tune``), on one machine or many.

A search trains kvt's network once per trial with one optimizer and one set of its
hyper-parameters, drawn from the optimizer's search space
(:mod:`kvt.optimizers.search_spaces`, overridden by ``--space``), and scores it by an
objective of the Keras history (``val_mse`` by default: the best epoch's validation
MSE on the scaled target). Trials train exactly as ``kvt train`` does, built from
the same pieces (:func:`kvt.training.trainer.prepare_data`, :func:`~kvt.training.trainer.build_compiled_model`,
:func:`~kvt.training.trainer.fit_inputs`, :func:`~kvt.training.trainer.fit_callbacks`), without the
optional L-BFGS finish; every trial starts from the same seed, and ``best_run/`` is trained
with the same options (``--finish none`` in accurate mode), so it reproduces the best trial.

The three algorithms are Keras Tuner's own tuners — ``RandomSearch``, ``Hyperband``
and ``BayesianOptimization`` — around kvt's hyper-model (:mod:`kvt.tuning.hypermodel`),
with additions to Keras Tuner's private machinery (:mod:`kvt.tuning.extension`,
version-checked) that make a long or shared search safe:

* Resume: the Keras Tuner project lives in ``OUT/search`` (``overwrite=False``);
  ``kvt tune --resume`` reloads it, re-runs the trials that were running when the
  search stopped and never repeats a finished one. ``OUT/tune.json`` records the
  options, and a resume with different options is refused.
* Distributed search uses Keras Tuner's chief/worker mode, configured by its
  environment variables ``KERASTUNER_TUNER_ID`` (``chief`` on the chief, a unique
  name on each worker), ``KERASTUNER_ORACLE_IP`` and ``KERASTUNER_ORACLE_PORT``. The
  chief holds the oracle (and writes every result file); workers ask it for trials,
  train them and report back. kvt's chief loop replaces Keras Tuner's: it checks
  every 0.2 s (Keras Tuner's sleeps 20 s at the end) and hands back the trial of a
  worker silent for ``--worker-timeout`` seconds: the trial goes to the retry queue
  (``--retries`` times) and is marked failed after that. Workers send a heartbeat
  every few seconds while they train; a worker that learns its trial was handed to
  another one stops and drops its result. A worker that is restarted with the same
  ``KERASTUNER_TUNER_ID`` gets its unfinished trial back. Workers with options
  different from the chief's are refused (a digest of the options and the data
  travels in every trial). Hyperband continues trials from other trials'
  checkpoints, so its ``--out`` must be a folder every machine shares.

``OUT`` ends up holding ``tune.json``, ``search/`` (Keras Tuner's project),
``trials.csv`` and ``trials.md`` (every trial once: status, hyper-parameters, score,
workers), ``best.json`` (the best trial, with the ``kvt train`` arguments that
reproduce it) and ``best_run/`` (the run directory ``kvt train`` writes for them), and
the marker ``.kvt-artifact.json`` (kind "tune"). A new ``OUT`` is written in place (so
``--resume`` can continue it); ``--force`` replaces only an earlier kvt search, built
aside and swapped in when complete (:func:`kvt.files.atomic.directory`).

The modules, along a search's path: :mod:`~kvt.tuning.config` (the options, spaces and
settings digest), :mod:`~kvt.tuning.hypermodel`, :mod:`~kvt.tuning.output` (the ``OUT``
folder), :mod:`~kvt.tuning.command` (:func:`~kvt.tuning.command.run`, progress) and
:mod:`~kvt.tuning.results` (trial tables, ``best.json``, ``best_run/``).
"""
