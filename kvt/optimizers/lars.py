"""LARS: momentum SGD with a layer-wise trust ratio."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers._common import (COUPLED, LR, RANK_1, H, Listing, coupled_decay, declare, fraction, lars_exclusion,
                                    listed, positive, rate)
from kvt.optimizers.base import CoupledWeightDecay, DeclaredOptimizer, cast_all

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 1e-2, rate, LR),
    H("momentum", 0.9, fraction, "heavy-ball momentum in [0, 1)"),
    H("trust_coefficient", 1e-3, positive, "trust coefficient eta > 0 of the layer-wise ratio"),
    H("weight_decay", 0.0, coupled_decay, COUPLED),
    H("exclude_from_adaptation", RANK_1, lars_exclusion,
      "variables taking ratio 1: '1d' (rank <= 1), none, or name substrings", to_config=listed),
    study=("learning_rate", "momentum", "trust_coefficient", "weight_decay"))

REGISTRY_ENTRY = Listing(
    "lars", "LARS", "LARS, momentum SGD with a layer-wise trust ratio (You et al. 2017)",
    notes="Rank <= 1 variables (biases, BatchNorm gamma/beta) take ratio 1 "
          "(exclude_from_adaptation='1d'; set it to none to adapt every variable).")


def _variable_name(variable) -> str:
    return str(getattr(variable, "path", None) or getattr(variable, "name", ""))


@keras.saving.register_keras_serializable(package="kvt")
class LARS(CoupledWeightDecay, DeclaredOptimizer):
    r"""LARS (layer-wise adaptive rate scaling).

    Each variable's step is scaled by a trust ratio comparing the norm of the
    variable with the norm of its (weight-decayed) gradient; the scaled step goes
    through heavy-ball momentum. For each variable θ with gradient g::

        ratio = η ‖θ‖ / (‖g‖ + wd ‖θ‖)      (1 when ‖θ‖ = 0 or ‖g‖ = 0,
                                             or when θ is excluded, see below)
        v ← momentum · v + lr · ratio · (g + wd θ)
        θ ← θ − v

    ‖·‖ is the Euclidean norm over the whole variable; v starts at 0. The weight
    decay wd is coupled, inside the ratio and the step (Keras's decoupled decay is
    not used). ``exclude_from_adaptation`` says which variables skip the trust ratio
    (take ratio 1; weight decay still applies): ``"1d"`` excludes every variable of
    rank <= 1, i.e. biases and BatchNormalization γ/β, as the paper recommends;
    ``None`` adapts every variable; a list of strings excludes the variables whose
    name / path contains any of them.

    Described in ``docs/optimizers.md`` (section ``lars``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks",
        2017, arXiv:1708.03888.
    """

    declaration = HYPERPARAMETERS
    slots = {"_velocity": "velocity"}

    def is_adapted(self, variable) -> bool:
        """Whether ``variable`` gets the trust ratio (False: ratio 1)."""
        rule = self.exclude_from_adaptation
        if rule is None:
            return True
        if rule == RANK_1:
            return len(variable.shape) > 1
        name = _variable_name(variable)
        return not any(part in name for part in rule)

    def build_state(self, var_list):
        self._adapted = [self.is_adapted(v) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, mom, eta, wd = cast_all(dtype, learning_rate, self.momentum, self.trust_coefficient, self.weight_decay)
        g = ops.cast(gradient, dtype)
        i = self._get_variable_index(variable)
        velocity = self._velocity[i]

        if self._adapted[i]:
            w_norm = ops.sqrt(ops.sum(ops.square(variable)))
            g_norm = ops.sqrt(ops.sum(ops.square(g)))
            denominator = g_norm + wd * w_norm
            both = ops.logical_and(w_norm > 0.0, g_norm > 0.0)
            safe = ops.where(denominator > 0.0, denominator, 1.0)
            ratio = ops.where(both, eta * w_norm / safe, 1.0)
        else:
            ratio = ops.cast(1.0, dtype)
        step = ops.multiply(lr * ratio, ops.add(g, ops.multiply(wd, variable)))
        self.assign(velocity, ops.add(ops.multiply(mom, velocity), step))
        self.assign_sub(variable, velocity)
