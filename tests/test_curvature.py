"""The curvature-aware set: SAM, Shampoo, K-FAC (SAM's and K-FAC's own train steps).

Registry entries and defaults, hyper-parameter errors, update rules against numpy
references written from docs/optimizers.md, the models' train steps (BatchNorm,
metrics, saving) and short training runs on every bundled pair. The shared
convergence / config / save-reload tests are rows of ``TABLE`` in test_optimizers.py.
"""

from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

import kvt
import kvt.optimizers as opts
from kvt.data.datasets import PAIRS
from kvt.network.model import Network, build_model
from kvt.optimizers.kfac import KFAC, DenseFactors, dense_records
from kvt.optimizers.sam import SAM, sam_perturbation
from kvt.optimizers.shampoo import Shampoo
from kvt.training.trainer import TrainConfig, train

CLASSES = {"sam": SAM, "shampoo": Shampoo, "kfac": KFAC}


def _data(n=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((n, 2), dtype="float32"), rng.random((n, 1), dtype="float32")


# --------------------------------------------------------------------------- registry

def test_entries_classes_and_train_steps():
    assert opts.names()[-3:] == ["sam", "shampoo", "kfac"]
    for name, cls in CLASSES.items():
        entry = opts.entry(name)
        assert entry.cls is cls and entry.description and entry.notes
    assert opts.entry("sam").train_step == "SAM.train_step"
    assert opts.entry("kfac").train_step == "KFAC.train_step"
    assert opts.entry("shampoo").train_step is None


def test_registry_defaults_are_the_curvature_study():
    expected = {
        "sgd": {"learning_rate": 0.01},  # kvt deviates: 0.1 diverges on the VT network (see notes)
        "sam": {"learning_rate": 0.03, "rho": 0.1, "base": "sgd"},
        "lion": {"learning_rate": 1e-4, "beta_1": 0.9, "beta_2": 0.99},
        "kfac": {"learning_rate": 0.01, "weight_decay": 3e-4},
        "shampoo": {"learning_rate": 0.1, "weight_decay": 1e-4},
    }
    for name, values in expected.items():
        config = opts.get(name).get_config()
        for key, value in values.items():
            assert config[key] == (value if isinstance(value, str) else pytest.approx(value, rel=1e-6)), \
                (name, key)
    sam = opts.get("sam")
    assert isinstance(sam.base_optimizer, keras.optimizers.SGD)
    assert float(sam.base_optimizer.learning_rate.numpy()) == pytest.approx(0.03)
    assert sam.base_optimizer.momentum == 0.0


def test_sam_base_from_opt_string_gets_its_registry_defaults_and_sams_learning_rate():
    values = opts.hyperparameters("sam", opts.parse_options(["base=adam", "rho=0.05"]))
    sam = opts.get("sam", **values)
    assert sam.base == "adam" and sam.rho == 0.05
    base = sam.base_optimizer
    assert isinstance(base, keras.optimizers.Adam)
    assert float(base.learning_rate.numpy()) == pytest.approx(0.03)
    assert (base.beta_1, base.beta_2) == (0.9, 0.999)
    sam.learning_rate = 0.01  # callbacks set the wrapper's rate: the base follows
    assert float(base.learning_rate.numpy()) == pytest.approx(0.01)
    assert "base" in opts.entry("sam").hyperparameter_names()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_docstring_documents_every_argument(name):
    doc = inspect.getdoc(CLASSES[name])
    assert "arXiv:" in doc and "Defaults to" in doc
    for key in opts.entry(name).hyperparameter_names():
        assert f"{key}:" in doc or f"{key}," in doc, key


@pytest.mark.parametrize("name, values, fragment", [
    ("sam", {"rho": -1}, "rho must be > 0, got -1"),
    ("sam", {"rho": 0.0}, "rho must be > 0, got 0.0"),
    ("sam", {"learning_rate": -0.1}, "learning_rate must be a finite number >= 0"),
    ("sam", {"base": "nope"}, "base must be one of adam, nadam"),
    ("sam", {"base": "adahessian"}, "base cannot be 'adahessian'"),
    ("sam", {"base": "sam"}, "base cannot be 'sam'"),
    ("sam", {"base": "kfac"}, "base cannot be 'kfac'"),
    ("sam", {"use_ema": True}, "use_ema=True is not supported by SAM"),
    ("shampoo", {"epsilon": 0.0}, "epsilon must be > 0, got 0.0"),
    ("shampoo", {"update_every": 0}, "update_every must be an integer >= 1, got 0"),
    ("shampoo", {"update_every": 2.5}, "update_every must be an integer >= 0, got 2.5"),
    ("shampoo", {"momentum": 1.0}, "momentum must be in [0, 1), got 1.0"),
    ("shampoo", {"weight_decay": -1e-4}, "weight_decay must be >= 0, got -0.0001"),
    ("kfac", {"damping": 0}, "damping must be > 0, got 0"),
    ("kfac", {"damping": -1e-3}, "damping must be > 0, got -0.001"),
    ("kfac", {"momentum": 1.5}, "momentum must be in [0, 1), got 1.5"),
    ("kfac", {"ema_decay": 1.0}, "ema_decay must be in [0, 1), got 1.0"),
    ("kfac", {"update_every": 0}, "update_every must be an integer >= 1, got 0"),
])
def test_invalid_hyperparameters_raise_kvt_error(name, values, fragment):
    with pytest.raises(kvt.KvtError) as err:
        opts.get(name, **values)
    message = str(err.value)
    assert fragment in message and name in message


def test_invalid_base_lists_the_valid_bases():
    with pytest.raises(kvt.KvtError) as err:
        opts.get("sam", base="nope")
    message = str(err.value)
    for valid in ("sgd", "adam", "lion", "adamod", "lars", "shampoo"):
        assert valid in message.split("base must be one of")[1]
    for model_bound in ("adahessian", "kfac"):
        assert model_bound not in message.split("base must be one of")[1]


def test_wrong_value_types_are_rejected():
    with pytest.raises(kvt.KvtError, match="expected a number"):
        opts.get("kfac", damping="big")
    with pytest.raises(kvt.KvtError, match="base must be the registry name"):
        opts.get("sam", base=3)


# --------------------------------------------------------------------------- training runs

@pytest.mark.parametrize("pair", PAIRS)
@pytest.mark.parametrize("name", sorted(CLASSES))
def test_training_on_every_bundled_pair_stays_finite(name, pair):
    result = train(TrainConfig(data=pair, optimizer=name, epochs=3, units=8))
    losses = result.history[["loss", "val_loss"]].to_numpy()
    assert np.all(np.isfinite(losses)) and len(losses) == 3
    assert losses[-1, 0] < losses[0, 0]
    assert type(result.model) is Network


@pytest.fixture
def no_op_determinism():
    """Keras turns XLA off while op determinism is on (``kvt.training.trainer.train`` enables it
    for the whole process); switch it off for one test, then restore it."""
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    tf_config.disable_op_determinism()
    yield
    if was_on:
        tf_config.enable_op_determinism()


@pytest.mark.parametrize("name", sorted(CLASSES))
def test_fit_under_xla(name, no_op_determinism):
    """``jit_compile=True`` (what Keras's "auto" picks on an accelerator): eigh, inverses
    and the two-pass step all compile with XLA."""
    entry = opts.entry(name)
    keras.utils.set_random_seed(3)
    model = build_model(units=4)
    model.compile(optimizer=opts.get(name), loss="mse", steps_per_execution=2, jit_compile=True)
    assert model.jit_compile
    x, y = _data()
    logs = model.fit(x, y, batch_size=8, epochs=1, verbose=0).history
    assert np.isfinite(logs["loss"][0]) and int(model.optimizer.iterations.numpy()) == 2


# --------------------------------------------------------------------------- SAM

_A = np.array([[3.0, 0.5, 0.0, 0.2, 0.0],
               [0.5, 2.0, 0.3, 0.0, 0.1],
               [0.0, 0.3, 1.5, 0.4, 0.0],
               [0.2, 0.0, 0.4, 1.0, 0.2],
               [0.0, 0.1, 0.0, 0.2, 0.5]])
_B = np.array([0.3, -0.2, 0.5, 0.1, -0.4])
_THETA = [np.array([1.0, -2.0, 0.5]), np.array([[0.7, -1.1]])]


def _quadratic(variables):
    """½ θᵀAθ − bᵀθ over both variables flattened together."""
    a, b = tf.constant(_A), tf.constant(_B)

    def loss():
        theta = tf.concat([tf.reshape(v, [-1]) for v in variables], 0)
        return 0.5 * tf.tensordot(theta, tf.linalg.matvec(a, theta), 1) - tf.tensordot(b, theta, 1)
    return loss


def _flat(values):
    return np.concatenate([np.ravel(v) for v in values])


def test_sam_perturbation_has_norm_rho_over_all_variables():
    grads = [tf.constant([3.0, 0.0]), tf.constant([[0.0], [4.0]])]
    e = sam_perturbation(grads, 0.5)
    np.testing.assert_allclose(_flat([t.numpy() for t in e]), [0.3, 0.0, 0.0, 0.4], rtol=1e-6)
    zero = sam_perturbation([tf.zeros(3)], 0.5)[0].numpy()
    assert np.all(zero == 0)


def test_sam_step_perturbs_by_rho_and_restores_before_the_base_step():
    rho, lr = 0.25, 0.5
    variables = [tf.Variable(t) for t in _THETA]
    loss = _quadratic(variables)
    seen = []

    def recording_loss():
        seen.append(_flat([v.numpy() for v in variables]))
        return loss()

    optimizer = SAM(learning_rate=lr, rho=rho, base="sgd")
    optimizer.build(variables)
    at_base_step = []
    base_apply = optimizer.base_optimizer.apply

    def recording_apply(grads, trainable_variables=None):
        at_base_step.append((_flat([v.numpy() for v in variables]), _flat([g.numpy() for g in grads])))
        return base_apply(grads, trainable_variables)

    optimizer.base_optimizer.apply = recording_apply
    theta = _flat(_THETA)
    optimizer.sharpness_aware_step(recording_loss, variables)  # eager: every read is visible

    g = _A @ theta - _B
    e = rho * g / np.linalg.norm(g)
    assert len(seen) == 2
    np.testing.assert_array_equal(seen[0], theta)
    np.testing.assert_allclose(np.linalg.norm(seen[1] - seen[0]), rho, rtol=1e-12)
    np.testing.assert_allclose(seen[1] - seen[0], e, rtol=1e-12, atol=1e-15)
    (restored, sharp_grad), = at_base_step
    np.testing.assert_array_equal(restored, theta)  # exact restore, before the base step
    np.testing.assert_allclose(sharp_grad, _A @ (theta + e) - _B, rtol=1e-12)
    np.testing.assert_allclose(_flat([v.numpy() for v in variables]), theta - lr * sharp_grad,
                               rtol=1e-12)
    assert int(optimizer.iterations.numpy()) == int(optimizer.base_optimizer.iterations.numpy()) == 1


def test_sam_graph_steps_match_numpy_reference():
    rho, lr, steps = 0.25, 0.125, 4
    variables = [tf.Variable(t) for t in _THETA]
    loss = _quadratic(variables)
    optimizer = SAM(learning_rate=lr, rho=rho)

    @tf.function
    def step():
        optimizer.sharpness_aware_step(loss, variables)

    theta = _flat(_THETA)
    for _ in range(steps):
        step()
        g = _A @ theta - _B
        theta = theta - lr * (_A @ (theta + rho * g / np.linalg.norm(g)) - _B)
        np.testing.assert_allclose(_flat([v.numpy() for v in variables]), theta, rtol=1e-12)
    # Not plain gradient descent.
    plain = _flat(_THETA)
    for _ in range(steps):
        plain = plain - lr * (_A @ plain - _B)
    assert np.max(np.abs(plain - theta)) > 1e-3


def _sam_model(learning_rate, **kwargs):
    keras.utils.set_random_seed(5)
    model = build_model(units=4)
    model.compile(optimizer=SAM(learning_rate=learning_rate, **kwargs), loss="mse",
                  metrics=["mae"], **({"steps_per_execution": 3}))
    return model


def test_sam_step_updates_batchnorm_statistics_once_per_step():
    x, y = _data(16)
    model = _sam_model(0.0, rho=0.5)  # lr 0: every step sees the same first-pass statistics
    weights = [w.numpy() for w in model.trainable_weights]
    plain = build_model(units=4)
    plain.set_weights(model.get_weights())
    plain(x, training=True)  # one moving-average update of both BatchNorm layers
    model.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)  # 3 steps, one execution
    assert int(model.optimizer.iterations.numpy()) == 3
    for a, b in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(a, b.numpy())  # θ + e − e restored exactly
    momentum = 0.99
    for name in ("batch_norm_1", "batch_norm_2"):
        once = plain.get_layer(name).moving_mean.numpy() / (1 - momentum)  # the batch mean
        got = model.get_layer(name).moving_mean.numpy()
        np.testing.assert_allclose(got, once * (1 - momentum ** 3), rtol=1e-4, atol=1e-7)
        assert not np.allclose(got, once * (1 - momentum ** 6), rtol=1e-3)


def test_sam_step_reports_first_pass_loss_and_metrics():
    x, y = _data(16, seed=2)
    model = _sam_model(0.0)
    logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    err = model(x, training=True).numpy() - y
    assert logs["loss"][0] == pytest.approx(np.mean(err ** 2), rel=1e-5)
    assert logs["mae"][0] == pytest.approx(np.mean(np.abs(err)), rel=1e-5)


def test_sam_step_trains_with_validation_and_reloads_base_state(tmp_path):
    x, y = _data(48, seed=4)
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    model = _sam_model(0.01, base="adam")
    logs = model.fit(data, epochs=2, verbose=0, validation_data=data, shuffle=False).history
    assert all(np.all(np.isfinite(logs[k])) for k in ("loss", "mae", "val_loss", "val_mae"))
    base = model.optimizer.base_optimizer
    assert int(base.iterations.numpy()) == 6
    path = tmp_path / "sam.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert type(loaded) is Network and loaded.optimizer.base == "adam"
    assert len(base.variables) > 2  # Adam moments
    for a, b in zip(base.variables, loaded.optimizer.base_optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_sam_without_second_pass_raises_a_clear_error():
    optimizer = SAM()
    variable = tf.Variable([1.0, 2.0])
    with pytest.raises(kvt.KvtError, match=r"train a kvt\.network\.model\.Network"):
        optimizer.apply_gradients([(tf.constant([0.1, 0.2]), variable)])
    model = keras.Sequential(build_model(units=4).layers)  # plain keras.Sequential
    model.compile(optimizer=SAM(), loss="mse")
    with pytest.raises(kvt.KvtError, match=r"SAM\.train_step"):
        model.fit(*_data(8), verbose=0)


# --------------------------------------------------------------------------- Shampoo

def _inverse_root(m, p, floor):
    w, q = np.linalg.eigh(m)
    return (q * np.maximum(w, floor) ** (-1.0 / p)) @ q.T


def _shampoo_reference(thetas, grad_fn, steps, lr, eps, update_every, momentum, wd):
    thetas = [t.copy() for t in thetas]
    state = []
    for th in thetas:
        if th.ndim == 2:
            n, c = th.shape
            state.append(dict(L=eps * np.eye(n), R=eps * np.eye(c), Lr=eps ** -0.25 * np.eye(n),
                              Rr=eps ** -0.25 * np.eye(c), m=np.zeros_like(th)))
        else:
            state.append(dict(a=np.full_like(th, eps), m=np.zeros_like(th)))
    history = []
    for t in range(steps):
        grads = grad_fn(thetas, t)
        new = []
        for th, g, st in zip(thetas, grads, state):
            th = th - lr * wd * th
            if th.ndim == 2:
                st["L"] = st["L"] + g @ g.T
                st["R"] = st["R"] + g.T @ g
                if t % update_every == 0:
                    st["Lr"] = _inverse_root(st["L"], 4, eps)
                    st["Rr"] = _inverse_root(st["R"], 4, eps)
                    np.testing.assert_allclose(  # the root really is L^(-1/4)
                        np.linalg.matrix_power(st["Lr"], 4) @ st["L"], np.eye(len(g)), atol=1e-8)
                step = st["Lr"] @ g @ st["Rr"]
            else:
                st["a"] = st["a"] + g * g
                step = g / np.sqrt(st["a"])
            if momentum:
                st["m"] = momentum * st["m"] + step
                step = st["m"]
            new.append(th - lr * step)
        thetas = new
        history.append([t.copy() for t in thetas])
    return history


_SH_THETA = [np.array([[0.5, -1.2], [2.0, 0.3], [-0.7, 1.1]]), np.array([0.4, -0.9])]
_SH_SCALE = [np.array([[1.0, 3.0], [0.2, 2.0], [0.5, 1.5]]), np.array([2.0, 0.3])]


def _sh_grads(thetas, t):
    rng = np.random.default_rng(100 + t)
    return [s * th + 0.3 * rng.normal(size=th.shape) for s, th in zip(_SH_SCALE, thetas)]


@pytest.mark.parametrize("hp", [
    dict(learning_rate=0.25, epsilon=0.01, update_every=1, momentum=0.0, weight_decay=None),
    dict(learning_rate=0.125, epsilon=0.05, update_every=2, momentum=0.5, weight_decay=0.0625),
])
def test_shampoo_matches_numpy_reference(hp):
    steps = 3 if hp["update_every"] == 1 else 4
    variables = [tf.Variable(t) for t in _SH_THETA]  # float64
    optimizer = Shampoo(**hp)
    apply = tf.function(lambda grads: optimizer.apply_gradients(zip(grads, variables)))
    history = []
    for t in range(steps):
        grads = _sh_grads([v.numpy() for v in variables], t)
        apply([tf.constant(g) for g in grads])
        history.append([v.numpy() for v in variables])
    expected = _shampoo_reference(_SH_THETA, _sh_grads, steps, hp["learning_rate"], hp["epsilon"],
                                  hp["update_every"], hp["momentum"], hp["weight_decay"] or 0.0)
    for got_step, want_step in zip(history, expected):
        for got, want in zip(got_step, want_step):
            np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_shampoo_single_matrix_first_step_is_the_normalised_gradient_for_rank_one():
    # G = u vᵀ with ε → 0: L^(-1/4) G R^(-1/4) = u vᵀ / (‖u‖ ‖v‖) (a unit step in Frobenius norm).
    u, v = np.array([1.0, 2.0, -2.0]), np.array([3.0, 4.0])
    variable = tf.Variable(np.zeros((3, 2)))
    Shampoo(learning_rate=1.0, epsilon=1e-12, weight_decay=None).apply_gradients(
        [(tf.constant(np.outer(u, v)), variable)])
    np.testing.assert_allclose(-variable.numpy(), np.outer(u, v) / 15.0, rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------- K-FAC

def _kfac_reference(steps_data, kernel, bias, lr, damping, momentum, ema_decay, update_every):
    """steps_data: per step (a, delta, gW, gb). Returns (W, b) after each step."""
    w, b = kernel.copy(), bias.copy()
    n = w.shape[0]
    vel = np.zeros((n + 1, w.shape[1]))
    big_a = big_g = None  # the factors' moving averages, set at step 1
    history = []
    for t, (a, delta, gw, gb) in enumerate(steps_data):
        rows = a.shape[0]
        a_bar = np.hstack([a, np.ones((rows, 1))])
        a_batch, g_batch = a_bar.T @ a_bar / rows, rows * delta.T @ delta
        beta = 0.0 if t == 0 else ema_decay
        big_a = a_batch if t == 0 else beta * big_a + (1 - beta) * a_batch
        big_g = g_batch if t == 0 else beta * big_g + (1 - beta) * g_batch
        if t % update_every == 0:
            a_inv = np.linalg.inv(big_a + np.sqrt(damping) * np.eye(n + 1))
            g_inv = np.linalg.inv(big_g + np.sqrt(damping) * np.eye(len(big_g)))
        p = a_inv @ np.vstack([gw, gb[None, :]]) @ g_inv
        vel = momentum * vel + p if momentum else p
        w, b = w - lr * vel[:n], b - lr * vel[n]
        history.append((w.copy(), b.copy()))
    return history


@pytest.mark.parametrize("update_every", [1, 2])
def test_kfac_preconditioned_step_matches_numpy_reference(update_every):
    rng = np.random.default_rng(7)
    kernel0, bias0 = rng.normal(size=(3, 2)), rng.normal(size=2)
    steps_data = [(rng.normal(size=(5, 3)), 0.2 * rng.normal(size=(5, 2)), rng.normal(size=(3, 2)),
                   rng.normal(size=2)) for _ in range(3)]
    hp = dict(learning_rate=0.25, damping=0.04, momentum=0.5, ema_decay=0.75,
              update_every=update_every, weight_decay=None)
    kernel, bias = tf.Variable(kernel0), tf.Variable(bias0)
    other = tf.Variable(np.array([1.0, -1.0]))  # not in a Dense layer: momentum SGD
    optimizer = KFAC(**hp)

    @tf.function
    def step(a, delta, gw, gb, go):
        optimizer.apply_kfac_gradients([gw, gb, go], [kernel, bias, other],
                                       [DenseFactors(kernel, bias, a, delta)])

    go = np.array([0.5, 0.25])
    for a, delta, gw, gb in steps_data:
        step(*(tf.constant(v) for v in (a, delta, gw, gb, go)))
    expected = _kfac_reference(steps_data, kernel0, bias0, 0.25, 0.04, 0.5, 0.75, update_every)
    np.testing.assert_allclose(kernel.numpy(), expected[-1][0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bias.numpy(), expected[-1][1], rtol=1e-10, atol=1e-12)
    v = 0.0
    want = np.array([1.0, -1.0])
    for _ in range(3):
        v = 0.5 * v + go
        want = want - 0.25 * v
    np.testing.assert_allclose(other.numpy(), want, rtol=1e-12)


def test_kfac_step_captures_pre_activation_gradients():
    """One sigmoid Dense layer, float64: the step uses a = x and δ = ∂L/∂s, s = xW + b
    (before the sigmoid), checked against the analytic δ of the mean squared error."""
    rng = np.random.default_rng(3)
    # float32-representable: Keras's array adapter feeds float arrays as floatx.
    x, y = (v.astype("float32").astype("float64") for v in (rng.normal(size=(6, 3)), rng.random((6, 2))))
    keras.utils.set_random_seed(1)
    model = Network([keras.Input((3,), dtype="float64"),
                     keras.layers.Dense(2, activation="sigmoid", dtype="float64")])
    hp = dict(learning_rate=0.5, damping=0.01, momentum=0.5, ema_decay=0.8, weight_decay=None)
    model.compile(optimizer=KFAC(**hp), loss=keras.losses.MeanSquaredError(dtype="float64"))
    w, b = (v.numpy() for v in model.layers[0].weights)
    model.fit(x, y, batch_size=6, epochs=3, verbose=0, shuffle=False)

    steps_data = []
    ww, bb = w.copy(), b.copy()
    history = []
    for t in range(3):
        s = x @ ww + bb
        out = 1 / (1 + np.exp(-s))
        delta = 2 * (out - y) * out * (1 - out) / y.size
        steps_data.append((x, delta, x.T @ delta, delta.sum(0)))
        history = _kfac_reference(steps_data, w, b, 0.5, 0.01, 0.5, 0.8, 1)
        ww, bb = history[-1]
    np.testing.assert_allclose(model.layers[0].kernel.numpy(), ww, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.layers[0].bias.numpy(), bb, rtol=1e-9, atol=1e-12)


def test_kfac_forward_matches_the_model_and_batchnorm_takes_momentum_steps():
    x, y = _data(16, seed=6)
    keras.utils.set_random_seed(2)
    model = build_model(units=4)
    np.testing.assert_allclose(dense_records(model, x, training=False)[0].numpy(),
                               model(x, training=False).numpy(), rtol=1e-6)
    outputs, records = dense_records(model, x, training=False)
    assert [layer.name for layer, _, _ in records] == ["dense_in", "dense_hidden", "dense_out"]

    gamma = model.get_layer("batch_norm_2").gamma
    with tf.GradientTape() as tape:
        loss = keras.losses.MeanSquaredError()(y, model(x, training=True))
    g_gamma = tape.gradient(loss, gamma).numpy()
    before = gamma.numpy()
    model.compile(optimizer=KFAC(learning_rate=0.1, momentum=0.0, weight_decay=None), loss="mse",
                  metrics=["mae"])
    logs = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history
    np.testing.assert_allclose(gamma.numpy(), before - 0.1 * g_gamma, rtol=1e-4, atol=1e-7)
    assert np.isfinite(logs["mae"][0])
    assert np.any(model.get_layer("batch_norm_1").moving_mean.numpy() != 0)


def test_kfac_without_layer_statistics_raises_a_clear_error():
    optimizer = KFAC()
    variable = tf.Variable([[1.0, 2.0]])
    with pytest.raises(kvt.KvtError, match=r"train a kvt\.network\.model\.Network"):
        optimizer.apply_gradients([(tf.constant([[0.1, 0.2]]), variable)])
    model = keras.Sequential(build_model(units=4).layers)  # plain keras.Sequential
    model.compile(optimizer=KFAC(), loss="mse")
    with pytest.raises(kvt.KvtError, match=r"KFAC\.train_step"):
        model.fit(*_data(8), verbose=0)


# --------------------------------------------------------------------------- configs, loss scaling

@pytest.mark.parametrize("name", sorted(CLASSES))
def test_config_keeps_non_default_hyperparameters(name):
    entry = opts.entry(name)
    changed = {k: v * 0.5 for k, v in entry.resolved_defaults().items()
               if isinstance(v, float) and v > 0}
    changed.update({k: v + 2 for k, v in entry.resolved_defaults().items()
                    if isinstance(v, int) and not isinstance(v, bool)})
    if name == "sam":
        changed["base"] = "lion"
    optimizer = opts.get(name, **changed)
    config = optimizer.get_config()
    for key, value in changed.items():
        assert config[key] == (value if isinstance(value, str) else pytest.approx(value, rel=1e-6)), key
    again = type(optimizer).from_config(dict(config))
    assert again.get_config() == config


def test_loss_scaling_does_not_change_the_steps():
    # SAM: the perturbation direction and the unscaled g' are scale-free.
    results = []
    for scale in (None, 64.0):
        variables = [tf.Variable(t) for t in _THETA]
        loss = _quadratic(variables)
        optimizer = SAM(learning_rate=0.125, rho=0.25, loss_scale_factor=scale)
        optimizer.sharpness_aware_step(lambda: optimizer.scale_loss(loss()), variables)
        results.append(_flat([v.numpy() for v in variables]))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)

    # K-FAC: gradients and δ both carry the scale; G must use the unscaled δ.
    rng = np.random.default_rng(11)
    a, delta, gw, gb = (rng.normal(size=s) for s in ((4, 3), (4, 2), (3, 2), (2,)))
    results = []
    for scale in (None, 64.0):
        kernel, bias = tf.Variable(np.ones((3, 2))), tf.Variable(np.zeros(2))
        s = scale or 1.0
        KFAC(learning_rate=0.5, weight_decay=None, loss_scale_factor=scale).apply_kfac_gradients(
            [tf.constant(gw * s), tf.constant(gb * s)], [kernel, bias],
            [DenseFactors(kernel, bias, tf.constant(a), tf.constant(delta * s))])
        results.append(np.concatenate([kernel.numpy().ravel(), bias.numpy()]))
    np.testing.assert_allclose(results[0], results[1], rtol=1e-12)
