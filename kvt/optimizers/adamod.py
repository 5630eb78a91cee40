"""AdaMod: Adam whose per-element step sizes are capped by their own running mean."""

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
    H("beta_3", 0.995, fraction, "decay of the step-size average s, in [0, 1)"),
    H("epsilon", 1e-8, positive, "eps > 0 added to sqrt(v)"),
    H("weight_decay", None, decoupled_decay, DECOUPLED),
    study=("learning_rate", "beta_1", "beta_2", "beta_3", "epsilon"))

REGISTRY_ENTRY = Listing(
    "adamod", "AdaMod", "AdaMod, Adam with step sizes capped by their running mean (Ding et al. 2019)")


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
    Weight decay, when set, is Keras's decoupled decay before the step (off in the study).

    Described in ``docs/optimizers.md`` (section ``adamod``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Ding, Ren, Luo & Sun, "An Adaptive and Momental Bound Method for Stochastic
        Learning", 2019, arXiv:1910.12249.
    """

    declaration = HYPERPARAMETERS
    slots = {"_m": "m", "_v": "v", "_s": "step_average"}

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, b1, b2, b3, eps = cast_all(dtype, learning_rate, self.beta_1, self.beta_2, self.beta_3, self.epsilon)
        g = ops.cast(gradient, dtype)
        t = step_count(self, dtype)
        m, v, s = self.slots_of(variable)

        self.assign(m, moving_average(m, b1, g))
        self.assign(v, moving_average(v, b2, ops.square(g)))
        step = ops.divide(lr * ops.sqrt(1.0 - ops.power(b2, t)) / (1.0 - ops.power(b1, t)),
                          ops.add(ops.sqrt(v), eps))
        self.assign(s, moving_average(s, b3, step))
        self.assign_sub(variable, ops.multiply(ops.minimum(step, s), m))
