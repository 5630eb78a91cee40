"""AdaMod: Adam whose per-element step sizes are capped by their own running mean."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers import _common as check
from kvt.optimizers import study
from kvt.optimizers.base import DeclaredOptimizer


@keras.saving.register_keras_serializable(package="kvt")
class AdaMod(DeclaredOptimizer):
    r"""AdaMod (adaptive and momental bound).

    Adam's per-element step size is smoothed by an exponential moving average
    ``s`` and clipped from above by it, which damps the very large steps Adam can
    take early in training. For each variable θ with gradient g at step t::

        m ← β₁ m + (1 − β₁) g
        v ← β₂ v + (1 − β₂) g²
        η_t = lr · √(1 − β₂ᵗ) / (1 − β₁ᵗ) / (√v + ε)
        s ← β₃ s + (1 − β₃) η_t
        θ ← θ − min(η_t, s) · m

    with m, v and s starting at 0 (so the first steps are small: s₁ = (1 − β₃) η₁).

    Described in ``docs/optimizers.md`` (section ``adamod``).

    Args:
        learning_rate: float or schedule, lr. Defaults to ``1e-3``.
        beta_1: decay of the gradient average m, in [0, 1). Defaults to ``0.9``.
        beta_2: decay of the squared-gradient average v, in [0, 1). Defaults to ``0.999``.
        beta_3: decay of the step-size average s, in [0, 1). Defaults to ``0.995``.
        epsilon: ε > 0 added to √v. Defaults to ``1e-8``.
        weight_decay: Keras's decoupled decay θ ← θ − lr·wd·θ before the step, or
            ``None`` (off, as in the study). Defaults to ``None``.
        {{base_optimizer_keyword_args}}.

    References:
        Ding, Ren, Luo & Sun, "An Adaptive and Momental Bound Method for Stochastic
        Learning", 2019, arXiv:1910.12249.
    """

    declaration = study.ADAMOD

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, name="m") for v in var_list]
        self._v = [self.add_variable_from_reference(v, name="v") for v in var_list]
        self._s = [self.add_variable_from_reference(v, name="step_average") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, b1, b2, b3, eps = check.cast_all(dtype, learning_rate, self.beta_1, self.beta_2,
                                             self.beta_3, self.epsilon)
        g = ops.cast(gradient, dtype)
        t = check.step_count(self, dtype)
        i = self._get_variable_index(variable)
        m, v, s = self._m[i], self._v[i], self._s[i]

        self.assign(m, ops.add(ops.multiply(b1, m), ops.multiply(1.0 - b1, g)))
        self.assign(v, ops.add(ops.multiply(b2, v), ops.multiply(1.0 - b2, ops.square(g))))
        step = ops.divide(lr * ops.sqrt(1.0 - ops.power(b2, t)) / (1.0 - ops.power(b1, t)),
                          ops.add(ops.sqrt(v), eps))
        self.assign(s, ops.add(ops.multiply(b3, s), ops.multiply(1.0 - b3, step)))
        self.assign_sub(variable, ops.multiply(ops.minimum(step, s), m))
