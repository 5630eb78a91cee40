"""RAdam: Adam with a rectified adaptive learning rate."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers import _common as check
from kvt.optimizers import study
from kvt.optimizers.base import DeclaredOptimizer


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

    With β₂ = 0.999 the first five steps or so take the un-adapted branch.

    Described in ``docs/optimizers.md`` (section ``radam``).

    Args:
        learning_rate: float or schedule, lr. Defaults to ``1e-3``.
        beta_1: decay of the gradient average m, in [0, 1). Defaults to ``0.9``.
        beta_2: decay of the squared-gradient average v, in [0, 1). Defaults to ``0.999``.
        epsilon: ε > 0 added to √v. Defaults to ``1e-8``.
        weight_decay: Keras's decoupled decay θ ← θ − lr·wd·θ before the step, or
            ``None`` (off, as in the study). Defaults to ``None``.
        {{base_optimizer_keyword_args}}.

    References:
        Liu, Jiang, He, Chen, Liu, Gao & Han, "On the Variance of the Adaptive
        Learning Rate and Beyond", ICLR 2020, arXiv:1908.03265.
    """

    declaration = study.RADAM

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, name="m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, name="v") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, b1, b2, eps = check.cast_all(dtype, learning_rate, self.beta_1, self.beta_2,
                                         self.epsilon)
        g = ops.cast(gradient, dtype)
        t = check.step_count(self, dtype)
        i = self._get_variable_index(variable)
        m, v = self._m[i], self._v[i]

        self.assign(m, ops.add(ops.multiply(b1, m), ops.multiply(1.0 - b1, g)))
        self.assign(v, ops.add(ops.multiply(b2, v), ops.multiply(1.0 - b2, ops.square(g))))
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
