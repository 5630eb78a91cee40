"""AdaHessian (Adam with a Hutchinson estimate of the Hessian diagonal) and the
Keras model whose ``train_step`` feeds it Hessian-vector products.

Pieces:

* ``rademacher_like(variables, seed)`` draws one ±1 tensor per variable with a TF
  random op (a fresh draw each time the op runs, also inside ``tf.function``).
* ``hessian_vector_products(loss_fn, variables, vectors)`` returns the loss, the
  gradients g and the products H z from nested ``tf.GradientTape``s.
* ``hutchinson_estimate(loss_fn, variables, vectors=None, seed=None)`` returns the
  loss, g, the per-element estimates z ⊙ (H z) (whose mean over draws is diag H)
  and the vectors used.
* ``AdaHessian.apply_hessian_gradients(grads, hessian_estimates, variables)`` takes
  one optimizer step; plain ``apply_gradients`` raises (there is no curvature).
* ``HessianSequential`` is ``keras.Sequential`` with a ``train_step`` doing the above
  (the registry's ``model_class`` for ``adahessian``).
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf
from keras import ops

from kvt.errors import KvtError
from kvt.optimizers import _common as check

_NO_HESSIAN = (
    "AdaHessian needs Hessian-vector products, which plain apply_gradients() / "
    "keras.Sequential.train_step do not provide: build the model with "
    "kvt.optimizers.adahessian.HessianSequential (the 'adahessian' registry entry's "
    "model_class, e.g. kvt.network.model.build_model(model_class=kvt.optimizers.entry('adahessian')"
    ".model_class())), or call AdaHessian.apply_hessian_gradients(grads, hessian_estimates, "
    "variables) in a custom loop")


def rademacher_like(variables, seed=None):
    """One tensor of independent ±1 entries per variable (same shape and dtype).

    ``seed`` is a ``keras.random.SeedGenerator`` (advanced at every call, so each
    execution of the op draws new vectors, also in graph mode), an int, or None.
    """
    vectors = []
    for variable in variables:
        bits = keras.random.randint(tuple(variable.shape), 0, 2, dtype="int32", seed=seed)
        vectors.append(ops.cast(2 * bits - 1, variable.dtype))
    return vectors


def hessian_vector_products(loss_fn, variables, vectors):
    """Loss, gradients g = ∇L and products H z (H = ∇²L) for the given vectors.

    ``loss_fn()`` returns the scalar loss, or a pair ``(loss, aux)``; the first
    return value is then ``(loss, aux)``. Uses two nested ``tf.GradientTape``s: the
    outer one differentiates gᵀz (with z held constant).
    """
    variables = list(variables)
    zero = tf.UnconnectedGradients.ZERO
    with tf.GradientTape() as outer:
        with tf.GradientTape() as inner:
            result = loss_fn()
        loss = result[0] if isinstance(result, tuple) else result
        grads = [tf.convert_to_tensor(g)  # dense, also for IndexedSlices
                 for g in inner.gradient(loss, variables, unconnected_gradients=zero)]
        g_dot_z = tf.add_n([tf.reduce_sum(g * tf.stop_gradient(tf.cast(z, g.dtype)))
                            for g, z in zip(grads, vectors)])
    hvps = outer.gradient(g_dot_z, variables, unconnected_gradients=zero)
    return result, grads, hvps


def hutchinson_estimate(loss_fn, variables, vectors=None, seed=None):
    """Hutchinson's estimate of the Hessian diagonal: D̂ = z ⊙ (H z).

    E_z[z ⊙ (H z)] = diag(H) for Rademacher z (AdaHessian uses |D̂|). ``vectors``
    injects z (one tensor per variable); otherwise z is drawn with
    ``rademacher_like(variables, seed)``. Returns ``(loss_result, grads, estimates,
    vectors)`` with ``loss_result`` as returned by ``loss_fn``.
    """
    variables = list(variables)
    if vectors is None:
        vectors = rademacher_like(variables, seed)
    result, grads, hvps = hessian_vector_products(loss_fn, variables, vectors)
    estimates = [ops.multiply(ops.cast(z, hz.dtype), hz) for z, hz in zip(vectors, hvps)]
    return result, grads, estimates, vectors


@keras.saving.register_keras_serializable(package="kvt")
class AdaHessian(check.CoupledWeightDecay, keras.optimizers.Optimizer):
    r"""AdaHessian (Adam whose second moment is the squared Hessian diagonal).

    Each step uses a Hutchinson estimate D = |z ⊙ (H z)| of the Hessian diagonal,
    z with independent Rademacher (±1) entries drawn afresh every step and H z a
    Hessian-vector product. For each variable θ with gradient g at step t, with m
    and v starting at 0::

        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) D²
        θ ← θ − lr · ( (m / (1 − β₁ᵗ)) / ((√(v / (1 − β₂ᵗ)))ᵏ + ε) + wd θ ),   k = hessian_power

    The optimizer cannot form D from gradients alone: take steps with
    ``apply_hessian_gradients(grads, hessian_estimates, variables)`` (the estimates
    z ⊙ (H z), e.g. from ``hutchinson_estimate``), or train a ``HessianSequential``
    model with ``fit``. ``apply_gradients`` / ``apply`` without estimates raise a
    ``KvtError`` that says so.

    Args:
        learning_rate: float or schedule, lr. Defaults to ``1e-2``.
        beta_1: decay of the gradient average m, in [0, 1). Defaults to ``0.9``.
        beta_2: decay of the average of D², in [0, 1). Defaults to ``0.999``.
        epsilon: ε > 0 added to the denominator. Defaults to ``1e-4``.
        weight_decay: wd >= 0, added inside the step as above (Keras's decoupled decay
            is not used). Defaults to ``1e-3``.
        hessian_power: k in [0, 1]. Defaults to ``1``.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps,
        name: as in ``keras.optimizers.Optimizer`` (clipping acts on g only).

    References:
        Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney, "ADAHESSIAN: An Adaptive
        Second Order Optimizer for Machine Learning", AAAI 2021, arXiv:2006.00719.
    """

    def __init__(self, learning_rate=1e-2, beta_1=0.9, beta_2=0.999, epsilon=1e-4,
                 weight_decay=1e-3, hessian_power=1.0, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        learning_rate = check.learning_rate(learning_rate)
        beta_1 = check.fraction("beta_1", beta_1)
        beta_2 = check.fraction("beta_2", beta_2)
        epsilon = check.positive("epsilon", epsilon)
        weight_decay = check.non_negative("weight_decay", 0.0 if weight_decay is None else weight_decay)
        hessian_power = check.in_range("hessian_power", hessian_power, 0.0, 1.0, high_open=False)
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay,
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
            use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.hessian_power = hessian_power
        # Hessian-diagonal estimates of the step being applied, keyed by variable;
        # set only for the duration of apply_hessian_gradients().
        self._hessian_estimates = None


    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, name="m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, name="hessian_v") for v in var_list]

    def apply(self, grads, trainable_variables=None):
        if self._hessian_estimates is None:
            raise KvtError(_NO_HESSIAN)
        return super().apply(grads, trainable_variables)

    def apply_hessian_gradients(self, grads, hessian_estimates, variables):
        """One AdaHessian step.

        Args:
            grads: gradients g, one per variable.
            hessian_estimates: Hutchinson estimates z ⊙ (H z), one per variable
                (the sign does not matter, |·| is taken).
            variables: the variables to update.
        """
        grads, hessian_estimates, variables = list(grads), list(hessian_estimates), list(variables)
        if not len(grads) == len(hessian_estimates) == len(variables):
            raise ValueError(f"apply_hessian_gradients needs one gradient and one Hessian "
                             f"estimate per variable, got {len(grads)} gradients, "
                             f"{len(hessian_estimates)} estimates and {len(variables)} variables")
        scale = self.loss_scale_factor
        estimates = {}
        for variable, estimate in zip(variables, hessian_estimates):
            if estimate is not None:
                estimate = ops.abs(ops.convert_to_tensor(estimate))
                if scale is not None:
                    estimate = estimate / scale
                estimates[self._var_key(variable)] = estimate
        self._hessian_estimates = estimates
        try:
            return self.apply(grads, variables)
        finally:
            self._hessian_estimates = None

    def update_step(self, gradient, variable, learning_rate):
        estimate = (self._hessian_estimates or {}).get(self._var_key(variable))
        if estimate is None:
            raise KvtError(_NO_HESSIAN)
        dtype = variable.dtype
        lr, b1, b2, eps, wd, power = check.cast_all(
            dtype, learning_rate, self.beta_1, self.beta_2, self.epsilon, self.weight_decay,
            self.hessian_power)
        g = ops.cast(gradient, dtype)
        d = ops.cast(estimate, dtype)
        t = check.step_count(self, dtype)
        i = self._get_variable_index(variable)
        m, v = self._m[i], self._v[i]

        self.assign(m, ops.add(ops.multiply(b1, m), ops.multiply(1.0 - b1, g)))
        self.assign(v, ops.add(ops.multiply(b2, v), ops.multiply(1.0 - b2, ops.square(d))))
        m_hat = ops.divide(m, 1.0 - ops.power(b1, t))
        denominator = ops.add(ops.power(ops.sqrt(ops.divide(v, 1.0 - ops.power(b2, t))), power), eps)
        step = ops.add(ops.divide(m_hat, denominator), ops.multiply(wd, variable))
        self.assign_sub(variable, ops.multiply(lr, step))

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "epsilon": self.epsilon,
                       "weight_decay": self.weight_decay, "hessian_power": self.hessian_power})
        return config


@keras.saving.register_keras_serializable(package="kvt")
class HessianSequential(keras.Sequential):
    """``keras.Sequential`` whose ``train_step`` also computes Hutchinson
    Hessian-diagonal estimates and steps with ``optimizer.apply_hessian_gradients``.

    Each step draws fresh Rademacher vectors z (one per trainable variable) from
    the model's ``keras.random.SeedGenerator`` (seeded from ``seed``, or from Keras's
    global seed when None, so ``keras.utils.set_random_seed`` makes runs
    repeatable), runs the forward pass with ``training=True`` inside two nested
    gradient tapes to get the loss, g and H z, hands g and z ⊙ (H z) to the
    optimizer, and updates the loss tracker and the compiled metrics like Keras's
    own ``train_step``. With an optimizer that has no ``apply_hessian_gradients``
    it trains exactly like ``keras.Sequential``. ``seed`` is not saved with the model.
    """

    def __init__(self, layers=None, trainable=True, name=None, seed=None):
        super().__init__(layers=layers, trainable=trainable, name=name)
        self.hutchinson_seed = keras.random.SeedGenerator(seed, name="hutchinson_seed")

    def draw_rademacher(self, variables):
        """Fresh ±1 vectors for ``variables`` (a TF random op; new values every run)."""
        return rademacher_like(variables, self.hutchinson_seed)

    def train_step(self, data):
        optimizer = self.optimizer
        if not hasattr(optimizer, "apply_hessian_gradients"):
            return super().train_step(data)
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = list(self.trainable_variables)
        if not variables:
            warnings.warn("The model does not have any trainable weights.")
            _, loss, y_pred = check.forward_pass(self, x, y, sample_weight)
        else:
            def forward():
                return check.forward_pass(self, x, y, sample_weight)

            (_, loss, y_pred), grads, estimates, _ = hutchinson_estimate(
                forward, variables, vectors=self.draw_rademacher(variables))
            optimizer.apply_hessian_gradients(grads, estimates, variables)

        return check.report_step(self, x, y, y_pred, loss, sample_weight)
