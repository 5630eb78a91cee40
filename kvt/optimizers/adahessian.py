"""AdaHessian (Adam with a Hutchinson estimate of the Hessian diagonal) and the
train step that feeds it Hessian-vector products.

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
* ``AdaHessian.train_step(model, data)`` does all of the above for one batch (kvt's
  train-step protocol, :mod:`kvt.network.protocol`).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from kvt.errors import KvtError
from kvt.optimizers._common import (COUPLED, LR, H, Listing, coupled_decay, declare, fraction, positive, rate,
                                    unit_interval)
from kvt.optimizers.base import (CoupledWeightDecay, DeclaredOptimizer, cast_all, moving_average, needs_train_step,
                                 step_count, step_from_loss_function)

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 1e-2, rate, LR),
    H("beta_1", 0.9, fraction, "decay of the gradient average m, in [0, 1)"),
    H("beta_2", 0.999, fraction, "decay of the average of the squared Hessian diagonal, in [0, 1)"),
    H("epsilon", 1e-4, positive, "eps > 0 added to the denominator"),
    H("weight_decay", 1e-3, coupled_decay, COUPLED),
    H("hessian_power", 1.0, unit_interval, "power k in [0, 1] of the Hessian denominator"),
    study=("learning_rate", "beta_1", "beta_2", "weight_decay", "epsilon", "hessian_power"))

REGISTRY_ENTRY = Listing(
    "adahessian", "AdaHessian",
    "AdaHessian, Adam with a Hutchinson Hessian-diagonal second moment (Yao et al. 2020)",
    notes="Needs Hessian-vector products: AdaHessian.train_step (called by the network's "
          "train_step) draws fresh Rademacher vectors every step (about 2-3x the cost of a "
          "gradient step). weight_decay is inside the step (+ wd*theta).")

_NO_HESSIAN = needs_train_step("AdaHessian", "Hessian-vector products", "AdaHessian",
                               "apply_hessian_gradients(grads, hessian_estimates, variables)")


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
class AdaHessian(CoupledWeightDecay, DeclaredOptimizer):
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
    z ⊙ (H z), e.g. from ``hutchinson_estimate``), or train a
    :class:`kvt.network.model.Network` with ``fit`` (its ``train_step`` calls
    :meth:`train_step`). ``apply_gradients`` / ``apply`` without estimates raise a
    ``KvtError`` that says so. The weight decay wd is inside the step as above (Keras's
    decoupled decay is not used); clipping acts on g only.

    Described in ``docs/optimizers.md`` (section ``adahessian``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Yao, Gholami, Shen, Mustafa, Keutzer & Mahoney, "ADAHESSIAN: An Adaptive
        Second Order Optimizer for Machine Learning", AAAI 2021, arXiv:2006.00719.
    """

    declaration = HYPERPARAMETERS
    slots = {"_m": "m", "_v": "hessian_v"}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Hessian-diagonal estimates of the step being applied, keyed by variable;
        # set only for the duration of apply_hessian_gradients().
        self._hessian_estimates = None

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
        lr, b1, b2, eps, wd, power = cast_all(
            dtype, learning_rate, self.beta_1, self.beta_2, self.epsilon, self.weight_decay,
            self.hessian_power)
        g = ops.cast(gradient, dtype)
        d = ops.cast(estimate, dtype)
        t = step_count(self, dtype)
        m, v = self.slots_of(variable)

        self.assign(m, moving_average(m, b1, g))
        self.assign(v, moving_average(v, b2, ops.square(d)))
        m_hat = ops.divide(m, 1.0 - ops.power(b1, t))
        denominator = ops.add(ops.power(ops.sqrt(ops.divide(v, 1.0 - ops.power(b2, t))), power), eps)
        step = ops.add(ops.divide(m_hat, denominator), ops.multiply(wd, variable))
        self.assign_sub(variable, ops.multiply(lr, step))

    def rademacher(self, model, variables):
        """Fresh ±1 vectors for ``variables`` from ``model.step_seed`` (new values every run)."""
        seed = getattr(model, "step_seed", None)
        if seed is None:
            raise KvtError(f"AdaHessian.train_step draws its Rademacher vectors from the model's "
                           f"step_seed (a keras.random.SeedGenerator), which {type(model).__name__} "
                           f"does not have; use kvt.network.model.Network")
        return rademacher_like(variables, seed)

    def train_step(self, model, data):
        """Hutchinson Hessian-vector products (nested tapes, fresh Rademacher z), then one step.

        Runs the forward pass with ``training=True`` inside two nested gradient tapes to get
        the loss, g and H z, hands g and z ⊙ (H z) to :meth:`apply_hessian_gradients`, and
        updates the loss tracker and the compiled metrics like Keras's own ``train_step``.
        """
        def step(forward, variables):
            result, grads, estimates, _ = hutchinson_estimate(forward, variables,
                                                              vectors=self.rademacher(model, variables))
            self.apply_hessian_gradients(grads, estimates, variables)
            return result

        return step_from_loss_function(model, data, step)
