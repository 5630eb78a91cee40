"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers._common import DECOUPLED, LR, H, Listing, declare, decoupled_decay, fraction, positive, rate
from kvt.optimizers.base import DeclaredOptimizer, cast_all, moving_average, step_count

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 1e-3, rate, LR),
    H("beta_1", 0.9, fraction, "decay of the gradient average m, in [0, 1)"),
    H("beta_2", 0.999, fraction, "decay of the squared-gradient average v, in [0, 1)"),
    H("epsilon", 1e-8, positive, "eps > 0 added to sqrt(v)"),
    H("weight_decay", None, decoupled_decay, DECOUPLED),
    study=("learning_rate", "beta_1", "beta_2", "epsilon"))

REGISTRY_ENTRY = Listing(
    "radam", "RAdam", "RAdam, Adam with a rectified adaptive learning rate (Liu et al. 2019)",
    notes="Takes un-adapted momentum steps lr*m_hat while rho_t < 5 (the first ~5 steps "
          "with beta_2 = 0.999).")


@keras.saving.register_keras_serializable(package="kvt")
class RAdam(DeclaredOptimizer):
    r"""RAdam (rectified Adam).

    Adam's adaptive step is multiplied by a rectification factor r_t that
    compensates for the variance of v in the first steps; while that variance is
    intractable (ρ_t < 5) the step is plain bias-corrected momentum. For each
    variable θ with gradient g at step t::

        m ← β₁ m + (1 − β₁) g;   v ← β₂ v + (1 − β₂) g²;   m̂ = m / (1 − β₁ᵗ)
        ρ∞ = 2 / (1 − β₂) − 1;   ρ_t = ρ∞ − 2 t β₂ᵗ / (1 − β₂ᵗ)
        if ρ_t ≥ 5:
            r_t = √[ (ρ_t − 4)(ρ_t − 2) ρ∞ / ((ρ∞ − 4)(ρ∞ − 2) ρ_t) ]
            θ ← θ − lr · r_t · m̂ · √(1 − β₂ᵗ) / (√v + ε)
        else:
            θ ← θ − lr · m̂

    With β₂ = 0.999 the first five steps or so take the un-adapted branch. Weight
    decay, when set, is Keras's decoupled decay before the step (off in the study).

    Described in ``docs/optimizers.md`` (section ``radam``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive
        Learning Rate and Beyond", ICLR 2020, arXiv:1908.03265.
    """

    declaration = HYPERPARAMETERS
    slots = {"_m": "m", "_v": "v"}

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, b1, b2, eps = cast_all(dtype, learning_rate, self.beta_1, self.beta_2, self.epsilon)
        g = ops.cast(gradient, dtype)
        t = step_count(self, dtype)
        m, v = self.slots_of(variable)

        self.assign(m, moving_average(m, b1, g))
        self.assign(v, moving_average(v, b2, ops.square(g)))
        m_hat = ops.divide(m, 1.0 - ops.power(b1, t))

        b2_t = ops.power(b2, t)
        rho_inf = 2.0 / (1.0 - b2) - 1.0
        rho_t = rho_inf - 2.0 * t * b2_t / (1.0 - b2_t)
        # The rectifier only matters where rho_t >= 5; clamp its argument so the
        # unused branch of the select stays finite.
        r_squared = ((rho_t - 4.0) * (rho_t - 2.0) * rho_inf
                     / ((rho_inf - 4.0) * (rho_inf - 2.0) * rho_t))
        r_t = ops.sqrt(ops.maximum(r_squared, 0.0))
        adapted = ops.divide(lr * r_t * ops.sqrt(1.0 - b2_t) * m_hat, ops.add(ops.sqrt(v), eps))
        plain = ops.multiply(lr, m_hat)
        self.assign_sub(variable, ops.where(rho_t >= 5.0, adapted, plain))
