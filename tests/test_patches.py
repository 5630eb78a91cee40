"""kvt.patches: each patch refuses the library versions it was not written for, the private names it
replaces or calls still have the shape it expects, and the Keras patch lives only as long as the fit."""

import inspect
import json
from importlib import metadata

import numpy as np
import pytest
from conftest import error_line

import kvt.patches
from kvt import KvtError
from kvt.cli import main
from kvt.patches import keras_multi_worker, tensorflow_seed
from kvt.tuning import extension as kt_patch


def fake_version(monkeypatch, distribution, version):
    """Make ``distribution`` look installed at ``version`` (the others keep their real versions)."""
    monkeypatch.setattr(kvt.patches, "installed_version",
                        lambda name: version if name == distribution else metadata.version(name))


def params(function):
    """``[(name, default), ...]`` of ``function``'s signature (``inspect.Parameter.empty`` without a default)."""
    return [(p.name, p.default) for p in inspect.signature(function).parameters.values()]


EMPTY = inspect.Parameter.empty


# ---------------------------------------------------------------- (a) unsupported versions are refused
@pytest.mark.parametrize("version", ["1.4.7", "1.5.0"])
def test_tune_refuses_an_unsupported_keras_tuner(runner, tmp_path, monkeypatch, version):
    fake_version(monkeypatch, "keras-tuner", version)
    out = tmp_path / "search"
    result = runner.invoke(main, ["tune", "--pair", "O2-Ar", "--epochs", "1", "--quiet", "--out", str(out)])
    assert error_line(result) == (f"Error: kvt tune's Keras Tuner extension was written for keras-tuner "
                                  f">=1.4.8,<1.5; keras-tuner {version} is installed (install a supported version)")
    assert not out.exists()  # refused before anything is written
    for use in (kt_patch.tuner_classes, kt_patch.quiet_conditions().__enter__):
        with pytest.raises(KvtError, match=f"keras-tuner {version} is installed"):
            use()


@pytest.mark.parametrize("version", ["3.14.0", "3.16.0"])
def test_multi_worker_training_refuses_an_unsupported_keras(runner, tmp_path, monkeypatch, version):
    fake_version(monkeypatch, "keras", version)
    out = tmp_path / "run"
    tf_config = {"cluster": {"worker": ["127.0.0.1:2001"]}, "task": {"type": "worker", "index": 0}}
    result = runner.invoke(main, ["train", "--pair", "O2-Ar", "--optimizer", "adam", "--strategy", "multi-worker",
                                  "--epochs", "1", "--quiet", "--out", str(out)],
                           env={"TF_CONFIG": json.dumps(tf_config)})
    message = (f"kvt's fix of Keras's fit under a distributing strategy was written for keras >=3.15.0,<3.16; "
               f"keras {version} is installed (install a supported version)")
    assert error_line(result) == f"Error: {message}"
    assert not out.exists()
    with pytest.raises(KvtError) as raised:
        with keras_multi_worker.patched_fit():
            pass
    assert str(raised.value) == message


def test_the_installed_libraries_are_supported():
    """The environment the tests run in is one the patches were written for (else every check above
    would pass for the wrong reason)."""
    assert kvt.patches.supported(metadata.version("keras-tuner"), kt_patch.LOWEST, kt_patch.BELOW)
    assert kvt.patches.supported(metadata.version("keras"), keras_multi_worker.LOWEST, keras_multi_worker.BELOW)
    assert kvt.patches.supported(metadata.version("tensorflow"), tensorflow_seed.LOWEST, tensorflow_seed.BELOW)


def test_pyproject_bounds_match_the_patches():
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]
    deps = {d.split(">")[0].split("<")[0].strip(): d for d in project["dependencies"]}
    assert f"<{kt_patch.BELOW}" in deps["keras-tuner"]
    assert f">={kt_patch.LOWEST}" in deps["keras-tuner"]
    assert f"<{keras_multi_worker.BELOW}" in deps["keras"]
    assert f"<{tensorflow_seed.BELOW}" in deps["tensorflow"]
    assert f">={tensorflow_seed.LOWEST}" in deps["tensorflow"]


# ---------------------------------------------------------------- (b) the private names still fit
def test_keras_trainer_names_the_multi_worker_patch_relies_on():
    import keras
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer
    from keras.src.trainers.trainer import Trainer

    assert params(tf_trainer.reduce_per_replica) == [("values", EMPTY), ("strategy", EMPTY), ("reduction", EMPTY)]
    assert params(tf_trainer._collective_all_reduce_multi_worker) == [("strategy", EMPTY)]
    # replaced on the class itself (not inherited), with this signature:
    build = vars(tf_trainer.TensorFlowTrainer)["_maybe_symbolic_build"]
    assert params(build) == [("self", EMPTY), ("iterator", None), ("data_batch", None)]
    assert ("data_batch", None) in params(Trainer._symbolic_build)
    for name in ("flatten", "pack_sequence_as", "map_structure"):
        assert callable(getattr(tree, name)), name
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    assert isinstance(model, tf_trainer.TensorFlowTrainer)
    assert hasattr(model, "_distribute_strategy") and hasattr(model, "distribute_strategy")


def _synchronized_body(method):
    """The function ``keras_tuner.synchronized`` wrapped (its wrapper takes ``*args, **kwargs``)."""
    return inspect.getclosurevars(method).nonlocals.get("func", method)


def test_keras_tuner_names_the_extension_overrides_or_calls():
    import keras_tuner
    from keras_tuner import oracles
    from keras_tuner.src import config as kt_config, protos
    from keras_tuner.src.distribute import oracle_chief, utils as dist_utils
    from keras_tuner.src.engine import base_tuner, conditions, oracle as oracle_module, trial as trial_module, tuner

    # Tuner methods kvt overrides
    assert params(base_tuner.BaseTuner._populate_initial_space) == [("self", EMPTY)]
    assert [n for n, _ in params(base_tuner.BaseTuner._try_run_and_update_trial)] == ["self", "trial", "fit_args",
                                                                                       "fit_kwargs"]
    assert params(tuner.Tuner._configure_tensorboard_dir) == [("self", EMPTY), ("callbacks", EMPTY),
                                                               ("trial", EMPTY), ("execution", 0)]
    assert [n for n, _ in params(tuner.Tuner.run_trial)] == ["self", "trial", "args", "kwargs"]
    for name in ("search", "on_trial_begin", "on_trial_end", "pre_create_trial", "on_search_begin",
                 "on_search_end", "_is_worker", "save"):
        assert callable(getattr(base_tuner.BaseTuner, name)), name
    # the per-epoch checkpoint callback the benchmark's searches leave out (kvt.tuning.extension.without_checkpoints)
    from keras_tuner.src.engine import tuner_utils

    import inspect

    import keras

    assert issubclass(tuner_utils.SaveBestEpoch, keras.callbacks.Callback)
    assert "SaveBestEpoch" in inspect.getsource(tuner.Tuner.run_trial)  # the callback every trial's fit gets
    init = [n for n, _ in params(keras_tuner.Tuner.__init__)]
    assert {"oracle", "hypermodel", "directory", "project_name", "overwrite"} <= set(init)
    assert "DEBUG" in vars(kt_config)

    # Oracle methods kvt overrides (behind keras_tuner.synchronized) and calls
    oracle_cls = oracle_module.Oracle
    assert params(_synchronized_body(oracle_cls.create_trial)) == [("self", EMPTY), ("tuner_id", EMPTY)]
    assert params(_synchronized_body(oracle_cls.update_trial)) == [("self", EMPTY), ("trial_id", EMPTY),
                                                                   ("metrics", EMPTY), ("step", 0)]
    assert params(_synchronized_body(oracle_cls.end_trial)) == [("self", EMPTY), ("trial", EMPTY)]
    assert params(oracle_cls.get_trial) == [("self", EMPTY), ("trial_id", EMPTY)]
    for name in ("reload", "get_state", "get_space", "save"):
        assert params(getattr(oracle_cls, name)) == [("self", EMPTY)], name
    assert params(oracle_cls.set_state) == [("self", EMPTY), ("state", EMPTY)]
    # the lock kvt takes is the one @synchronized takes
    source = inspect.getsource(oracle_module.synchronized)
    assert "LOCKS[oracle]" in source and "THREADS[oracle]" in source
    assert oracle_module.THREADS[object()] is None and hasattr(oracle_module.LOCKS[object()], "acquire")
    oracle = oracles.RandomSearchOracle(objective=keras_tuner.Objective("val_mse", "min"), max_trials=1,
                                        max_retries_per_trial=1, max_consecutive_failed_trials=2)
    assert isinstance(oracle.ongoing_trials, dict) and isinstance(oracle.tuner_ids, set)
    assert isinstance(oracle.trials, dict)
    assert {"max_epochs", "factor", "hyperband_iterations"} <= {n for n, _ in params(oracles.HyperbandOracle)}
    for status in ("RUNNING", "STOPPED", "IDLE", "INVALID", "COMPLETED"):
        assert hasattr(trial_module.TrialStatus, status), status
    assert [n for n, _ in params(trial_module.Trial)][:3] == ["hyperparameters", "trial_id", "status"]

    # the chief's gRPC server and Keras Tuner's chief rule
    assert params(oracle_chief.OracleServicer.__init__) == [("self", EMPTY), ("oracle", EMPTY)]
    assert oracle_chief.OracleServicer(oracle).stop_triggered is False
    assert callable(protos.get_service_grpc().add_OracleServicer_to_server)
    assert params(dist_utils.is_chief_oracle) == []

    # the debugging print quiet_conditions silences: the built-in, called from to_proto
    assert "print" not in vars(conditions)
    assert "print(" in inspect.getsource(conditions.Parent.to_proto)


# ---------------------------------------------------------------- (c) scoped to the call that needs them
def _keras_functions():
    from keras.src.backend.tensorflow import trainer as tf_trainer

    return tf_trainer.reduce_per_replica, vars(tf_trainer.TensorFlowTrainer)["_maybe_symbolic_build"]


def _tiny_fit(callbacks=()):
    import keras

    from kvt.training.distributed import get_strategy

    strategy = get_strategy("mirrored")  # the local devices: a distributed model, one replica here
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
    x = np.arange(16, dtype="float32").reshape(8, 2) / 16
    return model.fit(x, x[:, :1], batch_size=4, epochs=1, verbose=0, validation_data=(x, x[:, :1]),
                     callbacks=list(callbacks))


def test_the_keras_patch_is_installed_for_the_fit_only():
    originals = _keras_functions()
    with keras_multi_worker.patched_fit():
        inside = _keras_functions()
        history = _tiny_fit()  # the patched functions run: the model has a strategy
    assert all(a is not b for a, b in zip(inside, originals))
    assert np.isfinite(history.history["loss"]).all()
    assert _keras_functions() == originals


def test_the_keras_patch_is_removed_after_a_fit_that_raises():
    import keras

    class Boom(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise RuntimeError("boom")

    originals = _keras_functions()
    with pytest.raises(RuntimeError, match="boom"):
        with keras_multi_worker.patched_fit():
            _tiny_fit([Boom()])
    assert _keras_functions() == originals


def test_kvt_patches_keras_only_for_fits_with_several_replicas_or_workers():
    from kvt.training.distributed import fit_scope, get_strategy

    originals = _keras_functions()
    with fit_scope(None):
        assert _keras_functions() == originals
    strategy = get_strategy("mirrored")
    with fit_scope(strategy):
        if strategy.num_replicas_in_sync == 1:
            assert _keras_functions() == originals  # one replica: Keras needs no patch
        else:
            assert _keras_functions() != originals
    assert _keras_functions() == originals


def test_keras_tuner_condition_prints_are_silenced_for_the_search_only(capsys):
    from keras_tuner.src.engine import conditions

    parent = conditions.Parent("optimizer", ["adam"])
    with kt_patch.quiet_conditions():
        parent.to_proto()
    assert capsys.readouterr().out == ""
    assert "print" not in vars(conditions)
    parent.to_proto()
    assert capsys.readouterr().out == "adam\n"  # keras-tuner's own print is back
    with pytest.raises(ValueError):
        with kt_patch.quiet_conditions():
            raise ValueError
    assert "print" not in vars(conditions)


def test_keras_optimizer_members_kvt_optimizers_rely_on():
    """kvt's optimizers subclass keras.optimizers.Optimizer and use some of its protected members
    (SAM steps its base optimizer itself; the others index their slots as Keras's own optimizers do).
    An upgrade that renames or reshapes one of them must fail here, not in a training run."""
    import inspect

    import keras

    optimizer = keras.optimizers.SGD(0.1)
    variable = keras.Variable([1.0, 2.0])
    optimizer.build([variable])
    methods = {"_get_current_learning_rate": [], "_clip_gradients": ["grads"],
               "_apply_weight_decay": ["variables"], "_get_variable_index": ["variable"], "_var_key": ["variable"]}
    for name, arguments in methods.items():
        member = getattr(keras.optimizers.Optimizer, name)
        assert list(inspect.signature(member).parameters)[1:] == arguments, name
    assert optimizer._get_variable_index(variable) == 0
    assert list(optimizer._trainable_variables) == [variable]
    assert isinstance(optimizer._variables, list) and optimizer._iterations is optimizer.iterations


def test_tensorflow_context_names_the_seed_patch_relies_on():
    """``Context._set_global_seed`` is still: set ``_seed``, set ``_rng`` from it, then empty the kernel caches."""
    import inspect

    from tensorflow.python.eager import context

    assert params(context.Context._set_global_seed) == [("self", EMPTY), ("seed", EMPTY)]
    source = inspect.getsource(context.Context._set_global_seed)
    statements = [line.strip() for line in source.splitlines()[1:]
                  if line.strip() and not line.strip().startswith(("#", '"""'))]
    assert statements == ["self._seed = seed", "try:", "hash(seed)", "self._rng = random.Random(seed)",
                          "except TypeError:", "seed = int(np.array(seed))", "self._rng = random.Random(seed)",
                          "if self._context_handle is not None:",
                          "pywrap_tfe.TFE_ContextClearCaches(self._context_handle)"]


def test_seeding_that_keeps_the_kernel_caches_seeds_as_tensorflow_does():
    """The global seed, the op seeds drawn after it and a seeded tf.data shuffle are those of tf.random.set_seed;
    the original method is back after the block."""
    import tensorflow as tf
    from tensorflow.python.eager import context
    from tensorflow.python.framework import random_seed

    def seeded(seed):
        tf.random.set_seed(seed)
        shuffled = list(tf.data.Dataset.range(20).shuffle(20, seed=3).as_numpy_iterator())
        return context.global_seed(), random_seed.get_seed(None), random_seed.get_seed(3), shuffled

    original = context.Context._set_global_seed
    expected = seeded(7)
    with tensorflow_seed.kernel_caches_kept():
        assert context.Context._set_global_seed is not original
        kept = seeded(7)
    assert context.Context._set_global_seed is original
    assert kept == expected and kept[0] == 7
