"""AdaMod: Adam whose per-element step sizes are capped by their own running mean."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers import _common as check


@keras.saving.register_keras_serializable(package="kvt")
class AdaMod(keras.optimizers.Optimizer):
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

    Args:
        learning_rate: float or schedule, lr. Defaults to ``1e-3``.
        beta_1: decay of the gradient average m, in [0, 1). Defaults to ``0.9``.
        beta_2: decay of the squared-gradient average v, in [0, 1). Defaults to ``0.999``.
        beta_3: decay of the step-size average s, in [0, 1). Defaults to ``0.995``.
        epsilon: ε > 0 added to √v. Defaults to ``1e-8``.
        weight_decay: Keras's decoupled decay θ ← θ − lr·wd·θ before the step, or
            ``None`` (off, as in the study). Defaults to ``None``.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps,
        name: as in ``keras.optimizers.Optimizer``.

    References:
        Ding, Ren, Luo & Sun, "An Adaptive and Momental Bound Method for Stochastic
        Learning", 2019, arXiv:1910.12249.
    """

    def __init__(self, learning_rate=1e-3, beta_1=0.9, beta_2=0.999, beta_3=0.995, epsilon=1e-8,
                 weight_decay=None, clipnorm=None, clipvalue=None, global_clipnorm=None,
                 use_ema=False, ema_momentum=0.99, ema_overwrite_frequency=None,
                 loss_scale_factor=None, gradient_accumulation_steps=None, name=None, **kwargs):
        learning_rate = check.learning_rate(learning_rate)
        beta_1 = check.fraction("beta_1", beta_1)
        beta_2 = check.fraction("beta_2", beta_2)
        beta_3 = check.fraction("beta_3", beta_3)
        epsilon = check.positive("epsilon", epsilon)
        super().__init__(
            learning_rate=learning_rate, weight_decay=check.optional_weight_decay(weight_decay),
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
            use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.beta_3 = beta_3
        self.epsilon = epsilon

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

    def get_config(self):
        config = super().get_config()
        config.update({"beta_1": self.beta_1, "beta_2": self.beta_2, "beta_3": self.beta_3,
                       "epsilon": self.epsilon})
        return config
