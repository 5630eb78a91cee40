"""MADGRAD: momentumised, adaptive, dual-averaged gradient method."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers import _common as check
from kvt.optimizers import study
from kvt.optimizers.base import DeclaredOptimizer


def _value_of(variable):
    """A Keras initializer returning ``variable``'s current value."""
    def initializer(shape, dtype=None):
        return ops.cast(ops.convert_to_tensor(variable), dtype or variable.dtype)

    return initializer


@keras.saving.register_keras_serializable(package="kvt")
class MADGRAD(DeclaredOptimizer):
    r"""MADGRAD (dual averaging with a cube-root adaptive denominator).

    Weighted sums of the gradients (s) and of their squares (ν) define a
    dual-averaging iterate z anchored at the starting point θ₀; the variable then
    moves towards z with momentum. For each variable θ with gradient g at step
    t = k + 1::

        λ = (lr + ε) √(k + 1)
        s ← s + λ g;   ν ← ν + λ g²
        z = θ₀ − s / (∛ν + ε)
        θ ← (1 − c) θ + c z,    c = 1 − momentum

    s and ν start at 0; θ₀ is the value of the variable when the optimizer is
    built (kept in a slot; Keras builds it just before the first step, and a
    reloaded optimizer restores it), independent of how steps are counted.

    Described in ``docs/optimizers.md`` (section ``madgrad``).

    Args:
        learning_rate: float or schedule, lr. Defaults to ``1e-2``.
        momentum: momentum in [0, 1); 0 gives pure dual averaging θ = z.
            Defaults to ``0.9``.
        epsilon: ε > 0 in λ and in the denominator. Defaults to ``1e-6``.
        weight_decay: Keras's decoupled decay θ ← θ − lr·wd·θ before the step, or
            ``None`` (off, as in the study). Defaults to ``None``.
        {{base_optimizer_keyword_args}}.

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive,
        Dual Averaged Gradient Method for Stochastic Optimization", 2021,
        arXiv:2101.11075.
    """

    declaration = study.MADGRAD_HP

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._s = [self.add_variable_from_reference(v, name="grad_sum") for v in var_list]
        self._nu = [self.add_variable_from_reference(v, name="grad_sq_sum") for v in var_list]
        # The anchor starts as the variables' values at build time; an initializer (not an
        # assign) so that it also holds when Keras builds the optimizer inside a traced function.
        self._theta0 = [self.add_variable_from_reference(v, name="initial_value", initializer=_value_of(v))
                        for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, mom, eps = check.cast_all(dtype, learning_rate, self.momentum, self.epsilon)
        g = ops.cast(gradient, dtype)
        t = check.step_count(self, dtype)
        i = self._get_variable_index(variable)
        s, nu, theta0 = self._s[i], self._nu[i], self._theta0[i]

        lam = (lr + eps) * ops.sqrt(t)
        self.assign_add(s, ops.multiply(lam, g))
        self.assign_add(nu, ops.multiply(lam, ops.square(g)))
        z = ops.subtract(theta0, ops.divide(s, ops.add(ops.power(nu, 1.0 / 3.0), eps)))
        c = 1.0 - mom
        self.assign(variable, ops.add(ops.multiply(1.0 - c, variable), ops.multiply(c, z)))
