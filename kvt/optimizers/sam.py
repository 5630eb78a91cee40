"""SAM (sharpness-aware minimisation) around any gradient-only registry optimizer,
and the train step that gives it its second gradient pass.

Pieces:

* ``sam_perturbation(grads, rho)`` returns e = ρ g / ‖g‖₂, the norm taken over all
  gradients together.
* ``SAM.sharpness_aware_step(loss_fn, variables, frozen_variables=())`` takes one
  whole SAM step: gradient at θ, perturbation, gradient at θ + e, exact restore of
  θ (and of ``frozen_variables``, e.g. BatchNorm moving statistics, to their values
  after the first pass), then one step of the base optimizer with the second
  gradient. Plain ``apply_gradients`` / ``apply`` raise (there is no second pass).
* ``SAM.train_step(model, data)`` does the above for one batch of a Keras model
  (kvt's train-step protocol, :mod:`kvt.network.protocol`).
"""

from __future__ import annotations

import warnings

import keras
import tensorflow as tf
from keras import ops

from kvt.errors import KvtError
from kvt.optimizers import registry
from kvt.optimizers._common import DECOUPLED, H, Listing, declare, decoupled_decay, positive, rate, sam_base
from kvt.optimizers.base import DeclaredOptimizer, needs_train_step, step_from_loss_function

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 0.03, rate, "step size lr, passed to the base optimizer"),
    H("rho", 0.1, positive, "radius rho > 0 of the perturbation rho*g/||g||"),
    H("base", "sgd", sam_base, "registry name of the gradient-only base optimizer"),
    H("weight_decay", None, decoupled_decay, DECOUPLED + ", applied by SAM before the base step"),
    study=("learning_rate", "rho", "base"))

REGISTRY_ENTRY = Listing(
    "sam", "SAM", "SAM, sharpness-aware minimisation around a base optimizer (Foret et al. 2021)",
    notes="Two forward/backward passes per step (gradient at theta, then at theta + "
          "rho*g/||g||, norm over all variables): SAM.train_step (called by the network's "
          "train_step) restores theta exactly and keeps BatchNorm moving statistics "
          "from the first pass. base is any gradient-only registry name (--opt base=adam); "
          "it gets its own registry defaults and SAM's learning_rate.")

_NO_SECOND_PASS = needs_train_step("SAM", "a second gradient evaluated at the perturbed weights", "SAM",
                                   "sharpness_aware_step(loss_fn, variables)")

#: Floor of ‖g‖ in e = ρ g / ‖g‖ (g = 0 gives e = 0 rather than 0/0).
_NORM_FLOOR = 1e-12


def sam_perturbation(grads, rho):
    """e = ρ g / ‖g‖₂ with ‖g‖₂ the norm over every tensor of ``grads`` together.

    Returns one tensor per gradient (same dtype). A zero gradient gives e = 0.
    """
    grads = [ops.convert_to_tensor(g) for g in grads]
    squares = [ops.sum(ops.square(ops.cast(g, "float32" if g.dtype == "float16" else g.dtype)))
               for g in grads]
    dtype = squares[0].dtype
    total = squares[0]
    for s in squares[1:]:
        total = ops.add(total, ops.cast(s, dtype))
    norm = ops.sqrt(total)
    scale = ops.divide(ops.convert_to_tensor(rho, dtype=dtype),
                       ops.maximum(norm, ops.convert_to_tensor(_NORM_FLOOR, dtype=dtype)))
    return [ops.multiply(ops.cast(scale, g.dtype), g) for g in grads]


@keras.saving.register_keras_serializable(package="kvt")
class SAM(DeclaredOptimizer):
    r"""SAM, sharpness-aware minimisation around a base optimizer.

    Each step evaluates the loss L twice. With θ all trainable variables together::

        g  = ∇L(θ)
        e  = ρ g / ‖g‖₂                 (‖·‖₂ over all variables together; e = 0 if g = 0)
        g' = ∇L(θ + e)                  (forward and backward pass at the perturbed weights)
        θ  ← base_step(θ, g')           (θ restored exactly to its value before the perturbation)

    ``base_step`` is one step of the registry optimizer ``base`` (any entry that steps
    from gradients alone, not ``sam``, ``adahessian`` or ``kfac``; by default plain SGD,
    momentum 0), built with that entry's registry defaults and with ``learning_rate``
    taken from SAM (setting ``SAM.learning_rate`` later sets the base's too). A
    ``weight_decay`` of SAM's own is decoupled decay θ ← θ − lr·wd·θ before the base
    step, on top of any decay of the base. BatchNormalization moving
    statistics (the floating-point non-trainable model variables, in
    :meth:`train_step`) are updated by the first forward pass only.

    The step needs the loss as a function, so take steps with
    ``sharpness_aware_step(loss_fn, variables)`` or train a
    :class:`kvt.network.model.Network` with ``fit`` (its ``train_step`` calls
    :meth:`train_step`); ``apply_gradients`` / ``apply`` raise a ``KvtError``.

    Described in ``docs/optimizers.md`` (section ``sam``).

    Args:
        {{hyperparameters}}
        clipnorm, clipvalue, global_clipnorm: clip g' before the base step (g, which
            only sets the direction of e, is not clipped). Default to ``None``.
        loss_scale_factor, name: as in ``keras.optimizers.Optimizer``.
        use_ema, ema_momentum, ema_overwrite_frequency, gradient_accumulation_steps:
            accepted for config compatibility only; ``use_ema=True`` and gradient
            accumulation are not supported (ValueError).

    References:
        Foret, Kleiner, Mobahi & Neyshabur, "Sharpness-Aware Minimization for
        Efficiently Improving Generalization", ICLR 2021, arXiv:2010.01412.
    """

    declaration = HYPERPARAMETERS

    def check_base_arguments(self, base):
        if base["use_ema"]:
            raise ValueError("use_ema=True is not supported by SAM; set it on a plain optimizer")
        if base["gradient_accumulation_steps"]:
            raise ValueError("gradient_accumulation_steps is not supported by SAM, got "
                             f"{base['gradient_accumulation_steps']}")

    def finish_init(self, values):
        try:
            self.base_optimizer = registry.get(self.base, learning_rate=values["learning_rate"])
        except KvtError as exc:
            raise ValueError(f"cannot build base optimizer '{self.base}': {exc}") from None
        self._stepping = False  # True only inside sharpness_aware_step

    # The learning rate lives in the base optimizer; keep SAM's copy (reported by
    # get_config and read by callbacks) in step with it.
    @property
    def learning_rate(self):
        return self._get_current_learning_rate()

    @learning_rate.setter
    def learning_rate(self, value):
        keras.optimizers.Optimizer.learning_rate.fset(self, value)
        base = getattr(self, "base_optimizer", None)
        if base is not None:
            base.learning_rate = value

    @property
    def variables(self):
        """SAM's own variables (iterations, learning rate), then the base's."""
        own = self._variables[:]
        base = getattr(self, "base_optimizer", None)
        return own + (base.variables if base is not None else [])

    # Keras saves the base optimizer as a child object; SAM itself stores only its own.
    def save_own_variables(self, store):
        for i, variable in enumerate(self._variables):
            store[str(i)] = variable.numpy()

    def load_own_variables(self, store):
        if len(store.keys()) != len(self._variables):
            warnings.warn(f"Skipping variable loading for optimizer '{self.name}': it has "
                          f"{len(self._variables)} variables, the saved one {len(store.keys())}",
                          stacklevel=2)
            return
        for i, variable in enumerate(self._variables):
            variable.assign(store[str(i)])

    def build_state(self, var_list):
        self.base_optimizer.build(var_list)

    def apply(self, grads, trainable_variables=None):
        if not self._stepping:
            raise KvtError(_NO_SECOND_PASS)
        grads = list(grads)
        if trainable_variables is None:
            trainable_variables = self._trainable_variables
        trainable_variables = list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        scale = self.loss_scale_factor
        if scale is not None:
            grads = [g if g is None else g / scale for g in grads]
        grads = self._clip_gradients(grads)
        self._apply_weight_decay(trainable_variables)
        self.base_optimizer.apply(grads, trainable_variables)
        self._iterations.assign_add(1)

    def update_step(self, gradient, variable, learning_rate):
        raise KvtError(_NO_SECOND_PASS)  # SAM steps through its base optimizer

    def sharpness_aware_step(self, loss_fn, variables, frozen_variables=()):
        """One SAM step; returns what ``loss_fn`` returned at the unperturbed θ.

        Args:
            loss_fn: callable returning the scalar loss (already scaled with
                ``scale_loss`` if loss scaling is used), or a tuple whose first
                element is that loss. Called twice: at θ and at θ + e.
            variables: the variables θ to perturb and update.
            frozen_variables: variables the second call of ``loss_fn`` may change
                but must not (e.g. BatchNorm moving statistics): they are put back to
                their values after the first call.
        """
        variables, frozen_variables = list(variables), list(frozen_variables)
        zero = tf.UnconnectedGradients.ZERO
        with tf.GradientTape() as tape:
            result = loss_fn()
            loss = result[0] if isinstance(result, tuple) else result
        grads = tape.gradient(loss, variables, unconnected_gradients=zero)
        perturbation = sam_perturbation(grads, self.rho)

        originals = [tf.identity(v) for v in variables]
        state = [tf.identity(v) for v in frozen_variables]
        for variable, e in zip(variables, perturbation):
            variable.assign_add(ops.cast(e, variable.dtype))
        with tf.GradientTape() as tape:
            perturbed = loss_fn()
            perturbed_loss = perturbed[0] if isinstance(perturbed, tuple) else perturbed
        sharp_grads = tape.gradient(perturbed_loss, variables, unconnected_gradients=zero)
        for variable, value in zip(variables, originals):
            variable.assign(value)
        for variable, value in zip(frozen_variables, state):
            variable.assign(value)

        self._stepping = True
        try:
            self.apply(sharp_grads, variables)
        finally:
            self._stepping = False
        return result

    def train_step(self, model, data):
        """Two forward/backward passes (at θ and θ + ρ g/‖g‖), θ restored exactly, one base step.

        Both forward passes run with ``training=True`` (BatchNorm normalises with the
        batch statistics of each pass); every floating-point non-trainable model variable
        (BatchNorm's moving mean and variance) keeps the value the first pass gave it, so
        moving statistics are updated once per step (random-seed states, integer
        variables, keep advancing). The loss and the compiled metrics are those of the
        first pass (at the unperturbed weights), as in Keras's own ``train_step``.
        """
        def step(forward, variables):
            # Moving statistics, not random-seed states (those keep advancing).
            frozen = [v for v in model.non_trainable_variables if "float" in str(v.dtype)]
            return self.sharpness_aware_step(forward, variables, frozen_variables=frozen)

        return step_from_loss_function(model, data, step)
