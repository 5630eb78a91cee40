"""MADGRAD: momentumised, adaptive, dual-averaged gradient method."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers._common import DECOUPLED, LR, H, Listing, declare, decoupled_decay, fraction, positive, rate
from kvt.optimizers.base import DeclaredOptimizer, cast_all, step_count

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 1e-2, rate, LR),
    H("momentum", 0.9, fraction, "momentum in [0, 1); 0 gives pure dual averaging"),
    H("epsilon", 1e-6, positive, "eps > 0 in the step weight and the denominator"),
    H("weight_decay", None, decoupled_decay, DECOUPLED),
    study=("learning_rate", "momentum", "epsilon"))

REGISTRY_ENTRY = Listing(
    "madgrad", "MADGRAD",
    "MADGRAD, momentumised dual averaging with a cube-root denominator (Defazio & Jelassi 2021)",
    notes="theta_0 (the anchor of the dual average) is the value when the optimizer is built, "
          "just before the first step.")


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

    (momentum 0 gives θ = z). s and ν start at 0; θ₀ is the value of the variable
    when the optimizer is built (kept in a slot; Keras builds it just before the
    first step, and a reloaded optimizer restores it), independent of how steps are
    counted. Weight decay, when set, is Keras's decoupled decay before the step (off
    in the study).

    Described in ``docs/optimizers.md`` (section ``madgrad``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Defazio & Jelassi, "Adaptivity without Compromise: A Momentumized, Adaptive,
        Dual Averaged Gradient Method for Stochastic Optimization", 2021,
        arXiv:2101.11075.
    """

    declaration = HYPERPARAMETERS
    slots = {"_s": "grad_sum", "_nu": "grad_sq_sum"}

    def build_state(self, var_list):
        # The anchor starts as the variables' values at build time; an initializer (not an
        # assign) so that it also holds when Keras builds the optimizer inside a traced function.
        self._theta0 = [self.add_variable_from_reference(v, name="initial_value", initializer=_value_of(v))
                        for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, mom, eps = cast_all(dtype, learning_rate, self.momentum, self.epsilon)
        g = ops.cast(gradient, dtype)
        t = step_count(self, dtype)
        s, nu = self.slots_of(variable)
        theta0 = self._theta0[self._get_variable_index(variable)]

        lam = (lr + eps) * ops.sqrt(t)
        self.assign_add(s, ops.multiply(lam, g))
        self.assign_add(nu, ops.multiply(lam, ops.square(g)))
        z = ops.subtract(theta0, ops.divide(s, ops.add(ops.power(nu, 1.0 / 3.0), eps)))
        c = 1.0 - mom
        self.assign(variable, ops.add(ops.multiply(1.0 - c, variable), ops.multiply(c, z)))
