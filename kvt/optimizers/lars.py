"""LARS: momentum SGD with a layer-wise trust ratio."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers import _common as check

#: ``exclude_from_adaptation`` value that excludes every variable of rank <= 1.
RANK_1 = "1d"


def _normalise_exclusion(value):
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value.lower() == RANK_1:
        return RANK_1
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"exclude_from_adaptation must be '1d', None or a list of variable-name "
                     f"substrings, got {value!r}")


def _variable_name(variable) -> str:
    return str(getattr(variable, "path", None) or getattr(variable, "name", ""))


@keras.saving.register_keras_serializable(package="kvt")
class LARS(check.CoupledWeightDecay, keras.optimizers.Optimizer):
    r"""LARS (layer-wise adaptive rate scaling).

    Each variable's step is scaled by a trust ratio comparing the norm of the
    variable with the norm of its (weight-decayed) gradient; the scaled step goes
    through heavy-ball momentum. For each variable θ with gradient g::

        ratio = η ‖θ‖ / (‖g‖ + wd ‖θ‖)      (1 when ‖θ‖ = 0 or ‖g‖ = 0,
                                             or when θ is excluded, see below)
        v ← momentum · v + lr · ratio · (g + wd θ)
        θ ← θ − v

    ‖·‖ is the Euclidean norm over the whole variable; v starts at 0.

    Args:
        learning_rate: float or schedule, lr. Defaults to ``1e-2``.
        momentum: momentum in [0, 1). Defaults to ``0.9``.
        trust_coefficient: η > 0. Defaults to ``1e-3``.
        weight_decay: coupled weight decay wd >= 0, inside the ratio and the step as
            above (Keras's decoupled decay is not used). Defaults to ``0``.
        exclude_from_adaptation: which variables skip the trust ratio (take ratio 1;
            weight decay still applies): ``"1d"`` (default) excludes every variable of
            rank <= 1, i.e. biases and BatchNormalization γ/β, as the paper
            recommends; ``None`` adapts every variable; a list of strings excludes
            the variables whose name / path contains any of them.
        clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps,
        name: as in ``keras.optimizers.Optimizer``.

    References:
        You, Gitman & Ginsburg, "Large Batch Training of Convolutional Networks",
        2017, arXiv:1708.03888.
    """

    def __init__(self, learning_rate=1e-2, momentum=0.9, trust_coefficient=1e-3, weight_decay=0.0,
                 exclude_from_adaptation=RANK_1, clipnorm=None, clipvalue=None,
                 global_clipnorm=None, use_ema=False, ema_momentum=0.99,
                 ema_overwrite_frequency=None, loss_scale_factor=None,
                 gradient_accumulation_steps=None, name=None, **kwargs):
        learning_rate = check.learning_rate(learning_rate)
        momentum = check.fraction("momentum", momentum)
        trust_coefficient = check.positive("trust_coefficient", trust_coefficient)
        weight_decay = check.non_negative("weight_decay", 0.0 if weight_decay is None else weight_decay)
        exclude_from_adaptation = _normalise_exclusion(exclude_from_adaptation)
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay,
            clipnorm=clipnorm, clipvalue=clipvalue, global_clipnorm=global_clipnorm,
            use_ema=use_ema, ema_momentum=ema_momentum,
            ema_overwrite_frequency=ema_overwrite_frequency, loss_scale_factor=loss_scale_factor,
            gradient_accumulation_steps=gradient_accumulation_steps, name=name, **kwargs)
        self.momentum = momentum
        self.trust_coefficient = trust_coefficient
        self.exclude_from_adaptation = exclude_from_adaptation


    def is_adapted(self, variable) -> bool:
        """Whether ``variable`` gets the trust ratio (False: ratio 1)."""
        rule = self.exclude_from_adaptation
        if rule is None:
            return True
        if rule == RANK_1:
            return len(variable.shape) > 1
        name = _variable_name(variable)
        return not any(part in name for part in rule)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._velocity = [self.add_variable_from_reference(v, name="velocity") for v in var_list]
        self._adapted = [self.is_adapted(v) for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, mom, eta, wd = check.cast_all(dtype, learning_rate, self.momentum,
                                          self.trust_coefficient, self.weight_decay)
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

    def get_config(self):
        config = super().get_config()
        rule = self.exclude_from_adaptation
        config.update({"momentum": self.momentum, "trust_coefficient": self.trust_coefficient,
                       "weight_decay": self.weight_decay,
                       "exclude_from_adaptation": list(rule) if isinstance(rule, tuple) else rule})
        return config
