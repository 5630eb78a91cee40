"""Optimizer registry and kvt's own optimizers (AdaMod, MADGRAD, RAdam, Apollo,
AdaHessian, LARS): convergence, update rules against numpy references,
serialisation, the AdaHessian training path, the one network class with plain
optimizers, and old run folders' model classes."""

from __future__ import annotations

import ast
import inspect
import json
import re
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import kvt
import kvt.optimizers as opts
from kvt.network.model import Network, build_model
from kvt.optimizers import adahessian as ah
from kvt.optimizers.adahessian import AdaHessian, hutchinson_estimate
from kvt.optimizers.adamod import AdaMod
from kvt.optimizers.apollo import Apollo
from kvt.optimizers.lars import LARS
from kvt.optimizers.madgrad import MADGRAD
from kvt.optimizers.radam import RAdam

sys.path.insert(0, str(Path(__file__).resolve().parent))
import numpy_optimizers as ref  # noqa: E402  (tests/numpy_optimizers.py)

# ---------------------------------------------------------------------------
# One row per registered optimizer. ``quadratic`` / ``rosenbrock``: the
# hyper-parameters for the convergence tests (on top of the registry defaults)
# and the factor by which the loss must drop in QUAD_STEPS / ROSEN_STEPS steps.
# (Study defaults such as lr 1e-3 are too slow for a few hundred steps.)
# ---------------------------------------------------------------------------
TABLE = {
    "adam": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.05}, 20)),
    "nadam": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.05}, 20)),
    "adamw": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.05}, 20)),
    "adamax": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.05}, 3)),
    "sgd": dict(quadratic=({"learning_rate": 0.1}, 1e3), rosenbrock=({"learning_rate": 0.002}, 10)),
    "momentum": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.001}, 100)),
    "nesterov": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.001}, 100)),
    "adagrad": dict(quadratic=({"learning_rate": 0.5}, 1e3), rosenbrock=({"learning_rate": 0.5}, 5)),
    "rmsprop": dict(quadratic=({"learning_rate": 0.01}, 5), rosenbrock=({"learning_rate": 0.01}, 20)),
    "adadelta": dict(quadratic=({"learning_rate": 10.0}, 5), rosenbrock=({"learning_rate": 10.0}, 5)),
    "lamb": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.05}, 5)),
    "lion": dict(quadratic=({"learning_rate": 0.03}, 10), rosenbrock=({"learning_rate": 0.01}, 20)),
    "adamod": dict(quadratic=({"learning_rate": 0.1}, 1e3), rosenbrock=({"learning_rate": 0.1}, 5)),
    "madgrad": dict(quadratic=({"learning_rate": 0.01}, 1e3), rosenbrock=({"learning_rate": 0.01}, 100)),
    # RAdam's first steps are un-adapted lr * m_hat: Rosenbrock's gradient (~200) needs a small lr.
    "radam": dict(quadratic=({"learning_rate": 0.05}, 20), rosenbrock=({"learning_rate": 0.005}, 5)),
    # Apollo's first step is lr_1 * g: warm up from a small init_lr.
    "apollo": dict(quadratic=({"learning_rate": 0.01, "init_lr": 1e-4, "warmup": 50}, 20),
                   rosenbrock=({"learning_rate": 0.01, "init_lr": 1e-4, "warmup": 50}, 100)),
    "adahessian": dict(quadratic=({"learning_rate": 0.3}, 1e3), rosenbrock=({"learning_rate": 0.3}, 3)),
    "lars": dict(quadratic=({"learning_rate": 1.0, "trust_coefficient": 0.01, "weight_decay": 1e-3}, 1e3),
                 rosenbrock=({"learning_rate": 1.0, "trust_coefficient": 0.01}, 20)),
    # SAM (rho 0.1 around SGD) takes real two-pass steps (see _minimise).
    "sam": dict(quadratic=({"learning_rate": 0.1}, 1e3), rosenbrock=({"learning_rate": 0.002}, 10)),
    "shampoo": dict(quadratic=({"learning_rate": 0.5}, 1e3), rosenbrock=({"learning_rate": 0.5}, 20)),
    # Plain variables have no Dense layer: K-FAC takes its momentum step (tests/test_curvature.py
    # covers the preconditioned path).
    "kfac": dict(quadratic=({"learning_rate": 0.05}, 1e3), rosenbrock=({"learning_rate": 0.001}, 100)),
}
QUAD_STEPS, ROSEN_STEPS = 200, 500

OWN = {"adamod": AdaMod, "madgrad": MADGRAD, "radam": RAdam, "apollo": Apollo,
       "adahessian": AdaHessian, "lars": LARS}


def test_table_covers_the_registry():
    assert set(TABLE) == set(opts.names())


def test_own_optimizers_are_registered_with_their_classes():
    for name, cls in OWN.items():
        entry = opts.entry(name)
        assert entry.cls is cls and entry.description
        assert entry.train_step == ("AdaHessian.train_step" if name == "adahessian" else None)


# --------------------------------------------------------------------------- convergence

_QA = np.array([[1.0, 4.0], [0.5, 2.0]], "float32")
_QC = np.array([[0.5, -1.0], [1.0, 0.25]], "float32")


def _quadratic():
    theta = tf.Variable([[2.0, -1.5], [0.5, 3.0]], dtype=tf.float32)
    return [theta], lambda: 0.5 * tf.reduce_sum(_QA * (theta - _QC) ** 2)


def _rosenbrock():
    theta = tf.Variable([[-1.2, 1.0]], dtype=tf.float32)  # rank 2, so LARS adapts it
    return [theta], lambda: (1.0 - theta[0, 0]) ** 2 + 100.0 * (theta[0, 1] - theta[0, 0] ** 2) ** 2


def _minimise(optimizer, variables, loss_fn, steps):
    optimizer.build(variables)
    seed = keras.random.SeedGenerator(7)
    hessian = isinstance(optimizer, AdaHessian)

    @tf.function
    def train():
        for _ in tf.range(steps):
            if hessian:  # real Hessian-vector products, fresh z each step
                _, grads, estimates, _ = hutchinson_estimate(loss_fn, variables, seed=seed)
                optimizer.apply_hessian_gradients(grads, estimates, variables)
            elif hasattr(optimizer, "sharpness_aware_step"):  # SAM: both passes
                optimizer.sharpness_aware_step(loss_fn, variables)
            elif hasattr(optimizer, "apply_kfac_gradients"):  # K-FAC, no Dense layers
                with tf.GradientTape() as tape:
                    loss = loss_fn()
                optimizer.apply_kfac_gradients(tape.gradient(loss, variables), variables, [])
            else:
                with tf.GradientTape() as tape:
                    loss = loss_fn()
                grads = tape.gradient(loss, variables)
                optimizer.apply_gradients(zip(grads, variables))

    train()


@pytest.mark.parametrize("problem", ["quadratic", "rosenbrock"])
@pytest.mark.parametrize("name", sorted(TABLE))
def test_convergence(name, problem):
    hp, factor = TABLE[name][problem]
    variables, loss_fn = _quadratic() if problem == "quadratic" else _rosenbrock()
    before = float(loss_fn())
    _minimise(opts.get(name, **hp), variables, loss_fn,
              QUAD_STEPS if problem == "quadratic" else ROSEN_STEPS)
    after = float(loss_fn())
    assert all(np.all(np.isfinite(v.numpy())) for v in variables)
    assert np.isfinite(after) and after * factor <= before, (name, before, after)


# --------------------------------------------------------------------------- serialisation

@pytest.mark.parametrize("name", sorted(TABLE))
def test_config_round_trip(name):
    optimizer = opts.get(name)
    config = optimizer.get_config()
    again = type(optimizer).from_config(dict(config))
    assert type(again) is type(optimizer)
    assert again.get_config() == config
    revived = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(optimizer))
    assert type(revived) is type(optimizer) and revived.get_config() == config


@pytest.mark.parametrize("name", sorted(OWN))
def test_config_keeps_non_default_hyperparameters(name):
    entry = opts.entry(name)
    values = {k: v for k, v in entry.resolved_defaults().items() if isinstance(v, float)}
    changed = {k: (v * 0.5 if v else 0.25) for k, v in values.items()}
    config = opts.get(name, **changed).get_config()
    for key, value in changed.items():
        assert config[key] == pytest.approx(value, rel=1e-6), key


@pytest.mark.parametrize("name", sorted(TABLE))
def test_fit_save_and_reload(name, tmp_path):
    entry = opts.entry(name)
    keras.utils.set_random_seed(11)
    model = build_model(units=8)
    model.compile(optimizer=opts.get(name), loss="mse", metrics=["mae"], steps_per_execution=2)
    rng = np.random.default_rng(0)
    x, y = rng.random((32, 2), dtype="float32"), rng.random((32, 1), dtype="float32")
    model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(8), epochs=1, verbose=0,
              shuffle=False)
    assert int(model.optimizer.iterations.numpy()) == 4

    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is type(model)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert type(loaded.optimizer) is type(model.optimizer)
    assert loaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(model.optimizer.variables, loaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --------------------------------------------------------------------------- update rules

_THETA0 = [np.array([0.5, -1.2, 2.0]), np.array([[0.3, -0.7], [1.5, 0.05]])]
_SCALE = [np.array([1.0, 3.0, 0.2]), np.array([[2.0, 0.5], [0.1, 4.0]])]


def _noise(steps):
    rng = np.random.default_rng(42)
    return [[rng.normal(size=th.shape) * 0.3 for th in _THETA0] for _ in range(steps)]


def _grads(thetas, noise):
    """A θ-dependent gradient: a ⊙ θ + noise (so position-dependent rules are exercised)."""
    return [s * th + n for s, th, n in zip(_SCALE, thetas, noise)]


def _variables():
    return [tf.Variable(th, dtype=tf.float64) for th in _THETA0]


def _keras_gradient_steps(optimizer, steps):
    """Run ``steps`` graph-mode steps on float64 variables; the θ after each step."""
    variables = _variables()
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)))
    history = []
    for noise in _noise(steps):
        grads = _grads([v.numpy() for v in variables], noise)
        apply([tf.constant(g) for g in grads])
        history.append([v.numpy() for v in variables])
    return history


def _reference_steps(reference, steps, **extra):
    thetas = [th.copy() for th in _THETA0]
    history = []
    for noise in _noise(steps):
        thetas = reference.step(thetas, _grads(thetas, noise), **extra)
        history.append(thetas)
    return history


def _lr(value):
    # Keras keeps the learning rate in a float32 variable.
    return float(np.float32(value))


def _adam_first_step(learning_rate):
    return _keras_gradient_steps(keras.optimizers.Adam(learning_rate=learning_rate), 1)[0]


def _assert_same(history, expected):
    assert len(history) == len(expected)
    for got_step, want_step in zip(history, expected):
        for got, want in zip(got_step, want_step):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-13)


def _assert_differs_from_adam(first_step, learning_rate):
    adam = _adam_first_step(learning_rate)
    for ours, theirs, start in zip(first_step, adam, _THETA0):
        moved, adam_moved = ours - start, theirs - start
        assert np.max(np.abs(moved - adam_moved)) > 0.05 * np.max(np.abs(adam_moved))


GRADIENT_RULES = {
    "adamod": (dict(learning_rate=0.05, beta_1=0.8, beta_2=0.95, beta_3=0.9, epsilon=1e-6),
               ref.AdaModRef, 5),
    # 8 steps: with beta_2 = 0.99 the first steps have rho_t < 5, the later ones not.
    "radam": (dict(learning_rate=0.05, beta_1=0.85, beta_2=0.99, epsilon=1e-6), ref.RAdamRef, 8),
    "madgrad": (dict(learning_rate=0.05, momentum=0.8, epsilon=1e-6), ref.MADGRADRef, 5),
    # warmup 3 with init_lr != lr: steps 1-3 warm up, 4-5 use lr.
    "apollo": (dict(learning_rate=0.05, beta=0.8, epsilon=1e-4, weight_decay=0.01, warmup=3,
                    init_lr=0.01), ref.ApolloRef, 5),
    "lars": (dict(learning_rate=0.1, momentum=0.8, trust_coefficient=0.02, weight_decay=0.01),
             ref.LARSRef, 5),
}


def _reference_hp(hp):
    out = {k: v for k, v in hp.items() if k != "learning_rate"}
    out["lr"] = _lr(hp["learning_rate"])
    return out


@pytest.mark.parametrize("name", sorted(GRADIENT_RULES))
def test_update_rule_matches_numpy_reference(name):
    hp, reference_cls, steps = GRADIENT_RULES[name]
    history = _keras_gradient_steps(OWN[name](**hp), steps)
    extra = {"adapt": [False, True]} if name == "lars" else {}  # default: 1-D excluded
    expected = _reference_steps(reference_cls(**_reference_hp(hp)), steps, **extra)
    _assert_same(history, expected)
    _assert_differs_from_adam(history[0], hp["learning_rate"])


def test_radam_reference_covers_both_branches():
    hp, _, steps = GRADIENT_RULES["radam"]
    rhos = [ref.RAdamRef.rho(t, hp["beta_2"])[0] for t in range(1, steps + 1)]
    assert min(rhos) < 5 <= max(rhos)


def test_radam_first_step_is_plain_momentum():
    optimizer = RAdam(learning_rate=0.05)
    first = _keras_gradient_steps(optimizer, 1)[0]
    g = _grads(_THETA0, _noise(1)[0])
    for got, th, gi in zip(first, _THETA0, g):
        np.testing.assert_allclose(got, th - _lr(0.05) * gi, rtol=1e-12)


def test_lars_adapts_every_variable_when_nothing_is_excluded():
    hp = dict(GRADIENT_RULES["lars"][0], exclude_from_adaptation=None)
    history = _keras_gradient_steps(LARS(**hp), 5)
    base = {k: v for k, v in hp.items() if k != "exclude_from_adaptation"}
    expected = _reference_steps(ref.LARSRef(**_reference_hp(base)), 5, adapt=[True, True])
    _assert_same(history, expected)


def test_lars_exclusion_by_name_and_ratio_one_for_zero_norms():
    optimizer = LARS(learning_rate=0.1, momentum=0.0, exclude_from_adaptation=["bias"])
    kernel = keras.Variable(np.ones((2, 2)), name="kernel")
    bias = keras.Variable(np.ones((2, 2)), name="bias")
    zero = keras.Variable(np.zeros((2, 2)), name="zero")
    optimizer.build([kernel, bias, zero])
    assert [optimizer.is_adapted(v) for v in (kernel, bias, zero)] == [True, False, True]
    optimizer.apply_gradients([(tf.ones((2, 2)), kernel), (tf.ones((2, 2)), bias),
                               (tf.ones((2, 2)), zero)])
    np.testing.assert_allclose(kernel.numpy(), 1 - 0.1 * 1e-3 * 2 / 2, rtol=1e-6)  # η‖θ‖/‖g‖ = 1e-3
    np.testing.assert_allclose(bias.numpy(), 0.9, rtol=1e-6)    # excluded: ratio 1
    np.testing.assert_allclose(zero.numpy(), -0.1, rtol=1e-6)   # ‖θ‖ = 0: ratio 1


# AdaHessian on ½ θᵀAθ over both variables (θ flattened and concatenated), with
# the Rademacher vectors injected so that numpy can use the same ones.
_SIZES = [th.size for th in _THETA0]


def _spd_matrix():
    rng = np.random.default_rng(5)
    m = rng.normal(size=(sum(_SIZES), sum(_SIZES)))
    return m @ m.T / sum(_SIZES) + np.diag(np.linspace(0.5, 3.0, sum(_SIZES)))


def _split(flat):
    parts = np.split(flat, np.cumsum(_SIZES)[:-1])
    return [p.reshape(th.shape) for p, th in zip(parts, _THETA0)]


def _quadratic_form(a_matrix, variables):
    a = tf.constant(a_matrix)

    def loss():
        theta = tf.concat([tf.reshape(v, [-1]) for v in variables], 0)
        return 0.5 * tf.tensordot(theta, tf.linalg.matvec(a, theta), 1)
    return loss


def test_adahessian_matches_numpy_reference():
    hp = dict(learning_rate=0.05, beta_1=0.8, beta_2=0.95, epsilon=1e-4, weight_decay=0.01,
              hessian_power=0.7)
    a = _spd_matrix()
    rng = np.random.default_rng(9)
    zs = [rng.choice([-1.0, 1.0], size=a.shape[0]) for _ in range(5)]

    optimizer = AdaHessian(**hp)
    variables = _variables()
    loss_fn = _quadratic_form(a, variables)

    @tf.function
    def step(vectors):
        _, grads, estimates, _ = hutchinson_estimate(loss_fn, variables, vectors=vectors)
        optimizer.apply_hessian_gradients(grads, estimates, variables)

    history = []
    for z in zs:
        step([tf.constant(p) for p in _split(z)])
        history.append([v.numpy() for v in variables])

    reference = ref.AdaHessianRef(**_reference_hp(hp))
    thetas = [th.copy() for th in _THETA0]
    expected = []
    for z in zs:
        flat = np.concatenate([th.ravel() for th in thetas])
        grads = _split(a @ flat)
        hessian = _split(np.abs(z * (a @ z)))
        thetas = reference.step(thetas, grads, hessian=hessian)
        expected.append(thetas)
    _assert_same(history, expected)

    # Step 1 is not Adam's: the denominator is |D|^k, not |g|.
    adam = keras.optimizers.Adam(learning_rate=hp["learning_rate"])
    adam_vars = _variables()
    with tf.GradientTape() as tape:
        loss = _quadratic_form(a, adam_vars)()
    adam.apply_gradients(zip(tape.gradient(loss, adam_vars), adam_vars))
    for ours, theirs, start in zip(history[0], adam_vars, _THETA0):
        assert np.max(np.abs((ours - start) - (theirs.numpy() - start))) > 0.05 * np.max(
            np.abs(theirs.numpy() - start))


def test_hutchinson_mean_is_the_hessian_diagonal():
    a = _spd_matrix()
    variables = _variables()
    loss_fn = _quadratic_form(a, variables)
    seed = keras.random.SeedGenerator(3)
    draws = 4000

    @tf.function
    def mean_estimate():
        total = [tf.zeros_like(v) for v in variables]
        for _ in tf.range(draws):
            _, _, estimates, vectors = hutchinson_estimate(loss_fn, variables, seed=seed)
            total = [t + e for t, e in zip(total, estimates)]
        return [t / draws for t in total]

    mean = np.concatenate([m.numpy().ravel() for m in mean_estimate()])
    # Var[z_i (Az)_i] = Σ_{j≠i} A_ij²: allow 5 standard errors.
    spread = np.sqrt((a ** 2).sum(axis=1) - np.diag(a) ** 2)
    assert np.all(np.abs(mean - np.diag(a)) <= 5 * spread / np.sqrt(draws))
    # Single draws are not exact (the test would be vacuous otherwise).
    _, _, one, _ = hutchinson_estimate(loss_fn, variables, seed=seed)
    assert not np.allclose(np.concatenate([o.numpy().ravel() for o in one]), np.diag(a), atol=1e-3)


def test_rademacher_draws_are_fresh_in_graph_mode():
    variables = [tf.Variable(tf.zeros((4, 8)))]
    seed = keras.random.SeedGenerator(1)
    draw = tf.function(lambda: ah.rademacher_like(variables, seed)[0])
    first, second = draw().numpy(), draw().numpy()
    assert set(np.unique(first)) <= {-1.0, 1.0} and set(np.unique(second)) <= {-1.0, 1.0}
    assert not np.array_equal(first, second)


# --------------------------------------------------------------------------- AdaHessian.train_step

_Z_LOG: dict = {}


class _RecordingAdaHessian(AdaHessian):
    """Logs the Rademacher vector of the first variable at every step (test hook)."""

    def rademacher(self, model, variables):
        vectors = super().rademacher(model, variables)
        log, count = _Z_LOG["z"], _Z_LOG["count"]
        log.scatter_nd_update([[count.read_value()]], tf.reshape(vectors[0], (1, -1)))
        count.assign_add(1)
        return vectors


def _hessian_fit(seed, steps_per_execution=3):
    keras.utils.set_random_seed(seed)
    model = build_model(units=4)
    _Z_LOG["z"] = tf.Variable(tf.zeros((6, 2 * 4)))
    _Z_LOG["count"] = tf.Variable(0)
    optimizer = _RecordingAdaHessian(name="recording_adahessian", **opts.hyperparameters("adahessian"))
    model.compile(optimizer=optimizer, loss="mse",
                  metrics=["mae", keras.metrics.LogCoshError(name="log_cosh")],
                  steps_per_execution=steps_per_execution)
    rng = np.random.default_rng(1)
    x, y = rng.random((48, 2), dtype="float32"), rng.random((48, 1), dtype="float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = model.fit(data, epochs=2, verbose=0, validation_data=data, shuffle=False)
    return model, history.history, _Z_LOG["z"].numpy(), int(_Z_LOG["count"].numpy())


def test_adahessian_fit_draws_fresh_vectors_and_is_repeatable():
    model, logs, z, count = _hessian_fit(seed=4)
    assert count == 6  # 2 epochs x 3 batches, steps_per_execution = 3
    assert set(np.unique(z)) <= {-1.0, 1.0}
    assert len({row.tobytes() for row in z}) == 6  # a new draw every step
    for key in ("loss", "mae", "log_cosh", "val_loss", "val_mae", "val_log_cosh"):
        assert len(logs[key]) == 2 and np.all(np.isfinite(logs[key])), key
    moving_mean = model.get_layer("batch_norm_1").moving_mean.numpy()
    assert np.any(moving_mean != 0)  # BatchNormalization ran in training mode

    model_2, logs_2, z_2, _ = _hessian_fit(seed=4)
    np.testing.assert_array_equal(z, z_2)  # same global seed, same vectors
    for key in logs:
        np.testing.assert_allclose(logs[key], logs_2[key], rtol=1e-6)
    for a, b in zip(model.get_weights(), model_2.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


def test_adahessian_step_reports_loss_and_metrics_of_the_step():
    keras.utils.set_random_seed(2)
    model = build_model(units=4)
    model.compile(optimizer=AdaHessian(learning_rate=0.0, weight_decay=0.0), loss="mse",
                  metrics=["mae", keras.metrics.LogCoshError(name="log_cosh")])
    rng = np.random.default_rng(3)
    x, y = rng.random((16, 2), dtype="float32"), rng.random((16, 1), dtype="float32")
    before = [v.numpy() for v in model.trainable_weights]
    logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    assert int(model.optimizer.iterations.numpy()) == 1
    for a, b in zip(before, model.trainable_weights):  # lr 0: trainable weights unchanged
        np.testing.assert_array_equal(a, b.numpy())
    trained = model(x, training=True).numpy()  # batch statistics, as in the step
    err = trained - y
    assert logs["loss"][0] == pytest.approx(np.mean(err ** 2), rel=1e-5)
    assert logs["mae"][0] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)
    assert logs["log_cosh"][0] == pytest.approx(np.mean(np.log(np.cosh(err))), rel=1e-4)


def test_adahessian_without_hessian_raises_a_clear_error():
    optimizer = AdaHessian()
    variable = tf.Variable([1.0, 2.0])
    with pytest.raises(kvt.KvtError, match=r"train a kvt\.network\.model\.Network"):
        optimizer.apply_gradients([(tf.constant([0.1, 0.2]), variable)])

    model = keras.Sequential(build_model(units=4).layers)  # plain keras.Sequential
    model.compile(optimizer=AdaHessian(), loss="mse")
    with pytest.raises(kvt.KvtError, match=r"AdaHessian\.train_step"):
        model.fit(np.zeros((8, 2), "float32"), np.zeros((8, 1), "float32"), verbose=0)


# --------------------------------------------------------------------------- registry errors

def test_unknown_name_lists_valid_names():
    with pytest.raises(kvt.KvtError) as err:
        opts.get("adamm")
    for name in ("adamod", "adahessian", "lars", "adam"):
        assert name in str(err.value)


def test_unknown_hyperparameter_lists_valid_keys():
    with pytest.raises(kvt.KvtError) as err:
        opts.get("apollo", beta_1=0.9)
    message = str(err.value)
    assert "beta_1" in message
    for key in ("beta", "warmup", "init_lr", "weight_decay"):
        assert key in message.split("valid keys:")[1]


@pytest.mark.parametrize("name, key, value, fragment", [
    ("adamod", "beta_1", 1.5, "beta_1 must be in [0, 1), got 1.5"),
    ("adamod", "beta_3", -0.1, "beta_3 must be in [0, 1), got -0.1"),
    ("adamod", "learning_rate", -1e-3, "learning_rate must be a finite number >= 0"),
    ("radam", "beta_2", 1.0, "beta_2 must be in [0, 1), got 1.0"),
    ("radam", "epsilon", 0.0, "epsilon must be > 0, got 0.0"),
    ("madgrad", "momentum", 1.0, "momentum must be in [0, 1), got 1.0"),
    ("madgrad", "learning_rate", -0.1, "learning_rate must be a finite number >= 0"),
    ("apollo", "beta", 2.0, "beta must be in [0, 1), got 2.0"),
    ("apollo", "warmup", -5, "warmup must be an integer >= 0, got -5"),
    ("apollo", "warmup", 2.5, "warmup must be an integer >= 0, got 2.5"),
    ("apollo", "weight_decay", -1e-3, "weight_decay must be >= 0, got -0.001"),
    ("apollo", "init_lr", -1.0, "init_lr must be >= 0, got -1.0"),
    ("adahessian", "hessian_power", 1.5, "hessian_power must be in [0, 1], got 1.5"),
    ("adahessian", "beta_1", 1.5, "beta_1 must be in [0, 1), got 1.5"),
    ("lars", "trust_coefficient", 0.0, "trust_coefficient must be > 0, got 0.0"),
    ("lars", "momentum", -0.5, "momentum must be in [0, 1), got -0.5"),
    ("lars", "exclude_from_adaptation", "2d", "exclude_from_adaptation must be '1d', None"),
])
def test_invalid_values_raise_kvt_error(name, key, value, fragment):
    with pytest.raises(kvt.KvtError) as err:
        opts.get(name, **{key: value})
    assert fragment in str(err.value)
    assert name in str(err.value)


def test_wrong_value_type_is_rejected():
    with pytest.raises(kvt.KvtError, match="expected a number"):
        opts.get("madgrad", momentum="high")


def test_integer_learning_rate_is_accepted():
    assert opts.get("lars", learning_rate=1).get_config()["learning_rate"] == 1.0


def test_registry_defaults_are_the_study_table():
    expected = {
        "adamod": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "beta_3": 0.995, "epsilon": 1e-8},
        "radam": {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
        "madgrad": {"learning_rate": 1e-2, "momentum": 0.9, "epsilon": 1e-6},
        "apollo": {"learning_rate": 1e-2, "beta": 0.9, "weight_decay": 1e-3, "epsilon": 1e-4,
                   "warmup": 100, "init_lr": 1e-2},
        "adahessian": {"learning_rate": 1e-2, "beta_1": 0.9, "beta_2": 0.999, "weight_decay": 1e-3,
                       "epsilon": 1e-4, "hessian_power": 1.0},
        "lars": {"learning_rate": 1e-2, "momentum": 0.9, "trust_coefficient": 1e-3, "weight_decay": 0.0},
    }
    for name, values in expected.items():
        config = opts.get(name).get_config()
        for key, value in values.items():
            assert config[key] == pytest.approx(value, rel=1e-6), (name, key)


@pytest.mark.parametrize("name", sorted(OWN))
def test_docstring_documents_every_argument(name):
    cls = OWN[name]
    doc = inspect.getdoc(cls)
    assert "arXiv:" in doc and "Defaults to" in doc
    for key in opts.entry(name).hyperparameter_names():
        assert f"{key}:" in doc or f"{key}," in doc, key


# --------------------------------------------------------------------------- the one network class

def _keras_sequential_twin(network):
    """A plain ``keras.Sequential`` with ``network``'s layers (fresh objects) and weights."""
    twin = keras.Sequential([keras.Input(shape=network.input_shape[1:], name="features")]
                            + [keras.layers.deserialize(keras.layers.serialize(layer)) for layer in network.layers])
    twin.set_weights(network.get_weights())
    return twin


@pytest.mark.parametrize("name", ["adam", "adamod", "shampoo"])
def test_network_with_a_plain_optimizer_trains_exactly_like_keras_sequential(name):
    keras.utils.set_random_seed(5)
    network = build_model(units=4)
    twin = _keras_sequential_twin(network)
    assert type(network) is Network and type(twin) is keras.Sequential
    rng = np.random.default_rng(8)
    x, y = rng.random((48, 2), dtype="float32"), rng.random((48, 1), dtype="float32")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    for model in (network, twin):
        model.compile(optimizer=opts.get(name), loss="mse", metrics=["mae"], steps_per_execution=3)
        model.fit(data, epochs=2, verbose=0, shuffle=False)
        assert int(model.optimizer.iterations.numpy()) == 12
    moved = [not np.array_equal(a, b) for a, b in zip(network.get_weights(), _keras_sequential_twin(
        build_model(units=4)).get_weights())]
    assert any(moved)  # trained, so the comparison below is not between untouched weights
    for a, b in zip(network.get_weights(), twin.get_weights()):
        np.testing.assert_array_equal(a, b)


_LEGACY = Path(__file__).resolve().parent / "data" / "legacy_models"


@pytest.mark.parametrize("old_class", ["HessianSequential", "SAMSequential", "KFACSequential"])
def test_old_run_folders_model_classes_load_as_the_network(old_class):
    expected = json.loads((_LEGACY / "expected.json").read_text())
    opts.import_all()
    path = _LEGACY / f"{old_class}.keras"
    assert path.stat().st_size < 100_000
    assert f'"kvt>{old_class}"' in zipfile.ZipFile(path).read("config.json").decode()
    model = keras.models.load_model(path)
    assert type(model) is Network
    want = expected[old_class]
    assert type(model.optimizer) is opts.entry(want["optimizer"]).cls
    assert int(model.optimizer.iterations.numpy()) == want["iterations"]
    probe = np.array(expected["inputs"], dtype="float32")
    # expected.json was written on a processor whose float32 matrix kernels (AVX-512) round differently from the
    # AVX2 ones kvt now runs everywhere (kvt/__init__.py): equal to float32 rounding, not bit for bit
    np.testing.assert_allclose(model.predict(probe, verbose=0).astype("float64").ravel(),
                               np.array(want["predictions"]), rtol=2e-6, atol=1e-7)
    # and trains on through the optimizer's own step
    model.fit(probe, np.zeros((len(probe), 1), "float32"), batch_size=len(probe), epochs=1, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == want["iterations"] + 1


# --------------------------------------------------------------------------- declared hyper-parameters

DECLARED = [name for name in opts.names() if opts.entry(name).declaration is not None]
_BASE_KEYS = {"clipnorm", "clipvalue", "global_clipnorm", "use_ema", "ema_momentum", "ema_overwrite_frequency",
              "loss_scale_factor", "gradient_accumulation_steps", "name"}


def test_every_kvt_optimizer_is_declared():
    assert DECLARED == ["adamod", "madgrad", "radam", "apollo", "adahessian", "lars", "sam", "shampoo", "kfac"]


@pytest.mark.parametrize("name", DECLARED)
def test_docstring_lists_exactly_the_declared_hyperparameters_and_defaults(name):
    entry = opts.entry(name)
    doc = inspect.getdoc(entry.cls)
    args = doc.split("\nArgs:\n", 1)[1].split("\nReferences:", 1)[0]
    items = re.split(r"\n    (?=[\w, ]+: )", "\n" + args)
    documented = {}
    for item in items:
        key, _, text = item.strip().partition(": ")
        if key and "," not in key and key not in _BASE_KEYS:
            found = re.search(r"Defaults to ``([^`]+)``", " ".join(text.split()))
            documented[key] = ast.literal_eval(found.group(1)) if found else "(no default given)"
    declared = entry.declaration.defaults
    assert list(documented) == list(declared)
    for key, default in declared.items():
        assert documented[key] == default, (key, documented[key], default)
    assert f"docs/optimizers.md`` (section ``{name}``)" in " ".join(doc.split())
    assert "{{" not in doc  # the base-class arguments' template was filled in


@pytest.mark.parametrize("name", DECLARED)
def test_declaration_gives_validation_config_and_registry_keys(name):
    entry = opts.entry(name)
    declaration = entry.declaration
    assert entry.defaults == declaration.study_defaults
    assert entry.hyperparameter_names()[:len(declaration.names)] == declaration.names
    optimizer = entry.cls()
    config = optimizer.get_config()
    for parameter in declaration.parameters:
        value = config[parameter.name]
        shown = parameter.to_config(parameter.default) if parameter.to_config else parameter.default
        assert value == pytest.approx(shown) if isinstance(shown, float) else value == shown, parameter.name
        assert parameter.meaning and "\n" not in parameter.meaning
    with pytest.raises(ValueError):  # __init__ runs each declared check
        entry.cls(**{declaration.parameters[1].name: -1})


@pytest.mark.parametrize("name", DECLARED)
def test_declaration_lives_in_the_class_file_and_the_registry_reads_the_same(name):
    """One home: the file of the class holds HYPERPARAMETERS and REGISTRY_ENTRY; the registry's copy, evaluated
    from that file's source without importing it, equals the imported one; the docstring shows each meaning."""
    import importlib

    entry = opts.entry(name)
    module = importlib.import_module(entry.cls.__module__)
    assert entry.cls.declaration is module.HYPERPARAMETERS
    assert entry.declaration == module.HYPERPARAMETERS
    listing = module.REGISTRY_ENTRY
    assert (listing.name, listing.cls, listing.summary, listing.notes) == (
        name, entry.cls.__name__, entry.description, entry.notes)
    doc = " ".join(inspect.getdoc(entry.cls).split())
    for parameter in entry.declaration.parameters:
        assert f"{parameter.name}: {parameter.meaning}. Defaults to ``{parameter.default!r}``." in doc


def test_a_declaration_may_use_only_the_declaration_vocabulary(tmp_path, monkeypatch):
    from kvt.optimizers import source

    good = tmp_path / "good.py"
    good.write_text("import keras\nfrom kvt.optimizers import _common as c\n"
                    "from kvt.optimizers._common import H, Listing, declare, fraction\n"
                    "HYPERPARAMETERS = declare(H('learning_rate', 0.1, c.rate, c.LR), "
                    "H('beta', 0.5, fraction, 'decay'), study=('learning_rate',))\n"
                    "REGISTRY_ENTRY = Listing('good', 'Good', 'a test optimizer')\n"
                    "class Good(keras.optimizers.Optimizer):\n    pass\n")
    bad = tmp_path / "bad.py"
    bad.write_text("from kvt.optimizers._common import H, declare\n\ndef mine(name, value):\n    return value\n\n"
                   "HYPERPARAMETERS = declare(H('learning_rate', 0.1, mine, 'lr'), study=())\n")
    monkeypatch.setattr(source, "_module_file", lambda module: tmp_path / f"{module}.py")
    found = source.read_declarations.__wrapped__("good")
    assert found["HYPERPARAMETERS"].study_defaults == {"learning_rate": 0.1}
    assert found["HYPERPARAMETERS"]["beta"].validate(0.25) == 0.25
    assert found["REGISTRY_ENTRY"].cls == "Good"
    with pytest.raises(NameError, match=r"bad\.py:6: HYPERPARAMETERS may use only names imported from "
                                        r"kvt\.optimizers\._common \(name 'mine' is not defined\)"):
        source.read_declarations.__wrapped__("bad")
    (tmp_path / "empty.py").write_text("from kvt.optimizers._common import H, declare\n")
    with pytest.raises(ImportError, match="empty.py declares no HYPERPARAMETERS or REGISTRY_ENTRY"):
        source.read_declarations.__wrapped__("empty")


# --------------------------------------------------------------------------- convergence against references

def _reference(name, hp):
    """The numpy reference of optimizer ``name`` with hyper-parameters ``hp`` (lr rounded as Keras keeps it)."""
    values = {k: v for k, v in hp.items() if k != "learning_rate"}
    values["lr"] = _lr(hp["learning_rate"])
    classes = {"adamod": ref.AdaModRef, "radam": ref.RAdamRef, "madgrad": ref.MADGRADRef, "apollo": ref.ApolloRef,
               "adahessian": ref.AdaHessianRef, "lars": ref.LARSRef, "kfac": ref.MomentumRef,
               "shampoo": ref.ShampooRef}
    if name == "sam":
        return ref.SAMSGDRef(values["lr"], values["rho"])
    return classes[name](**values)


REFERENCED = ["adamod", "radam", "madgrad", "apollo", "adahessian", "lars", "sam", "shampoo", "kfac"]


def test_every_kvt_optimizer_has_a_reference_convergence_test():
    assert sorted(REFERENCED) == sorted(n for n in opts.names() if opts.entry(n).declaration is not None)


@pytest.mark.parametrize("name", REFERENCED)
def test_convergence_follows_the_numpy_reference(name):
    """The quadratic of ``test_convergence`` in float64: the whole trajectory of QUAD_STEPS steps
    (through the same harness) must be the numpy reference's, which itself must converge; a broken
    update rule that still lowers the loss fails here."""
    hp = {**opts.entry(name).declaration.defaults, **TABLE[name]["quadratic"][0]}
    a, c = _QA.astype("float64"), _QC.astype("float64")
    theta = tf.Variable(np.array([[2.0, -1.5], [0.5, 3.0]]), dtype=tf.float64)
    loss_fn = lambda: 0.5 * tf.reduce_sum(a * (theta - c) ** 2)  # noqa: E731  (Hessian diag(a), exact z ⊙ Hz)
    before = float(loss_fn())
    _minimise(opts.get(name, **hp), [theta], loss_fn, QUAD_STEPS)

    reference = _reference(name, hp)
    thetas = [np.array([[2.0, -1.5], [0.5, 3.0]])]
    for _ in range(QUAD_STEPS):
        grads = [a * (thetas[0] - c)]
        if name == "sam":
            thetas = reference.step(thetas, lambda ths: [a * (ths[0] - c)])
        elif name == "adahessian":
            thetas = reference.step(thetas, grads, hessian=[a])
        elif name == "lars":
            thetas = reference.step(thetas, grads, adapt=[True])
        else:
            thetas = reference.step(thetas, grads)
    expected = 0.5 * np.sum(a * (thetas[0] - c) ** 2)
    assert expected * TABLE[name]["quadratic"][1] <= before  # the reference converges
    # LARS's ratio divides by ||g||, and g = a (θ − c) cancels near the minimum: round-off grows to ~1e-4.
    rtol = 1e-3 if name == "lars" else 1e-7
    np.testing.assert_allclose(theta.numpy(), thetas[0], rtol=rtol, atol=1e-9)
    assert float(loss_fn()) == pytest.approx(expected, rel=10 * rtol, abs=1e-12)


@pytest.mark.parametrize("name", [n for n in opts.names() if opts.entry(n).declaration is not None])
def test_constructor_signature_is_the_declaration(name):
    """help()/inspect show the declared hyper-parameters, and the first ones may be given positionally."""
    import inspect

    entry = opts.entry(name)
    parameters = inspect.signature(entry.cls).parameters
    declared = [p.name for p in entry.declaration.parameters]
    assert list(parameters)[: len(declared)] == declared
    assert all(parameters[p.name].default == p.default for p in entry.declaration.parameters)
    first = entry.declaration.parameters[0]
    assert getattr(entry.cls(first.default), first.name) is not None
    with pytest.raises(TypeError, match="got two values for argument"):
        entry.cls(first.default, **{first.name: first.default})
