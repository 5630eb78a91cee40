"""The Keras side of kvt's own optimizers: :class:`DeclaredOptimizer` (constructor,
validation, ``get_config``, the docstring's argument list and the per-variable slots, all
from the class's declaration) and the tensor helpers their update rules and train steps share.

A class's declaration is the ``HYPERPARAMETERS`` of its own file (:mod:`kvt.optimizers._common`
says how it is written); its docstring says ``{{hyperparameters}}`` where the ``Args:`` items
go, so that each meaning is written once, in the declaration, and ``help(Class)`` shows what
``kvt optimizers NAME`` shows.
"""

from __future__ import annotations

import inspect
import re
import warnings

import keras
from keras import ops

from kvt.optimizers._common import BASE_ARGUMENTS

#: The docstring text for :data:`BASE_ARGUMENTS`; ``{{base_optimizer_keyword_args}}`` in a
#: subclass's docstring is replaced by it (as Keras does for its own optimizers).
BASE_OPTIMIZER_KEYWORD_ARGS = """clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps,
        name: as in ``keras.optimizers.Optimizer``"""

#: A docstring line holding only this is replaced by the declared hyper-parameters' ``Args:`` items.
HYPERPARAMETERS_PLACEHOLDER = "{{hyperparameters}}"

#: Arguments handed to ``keras.optimizers.Optimizer.__init__`` rather than kept as attributes.
_PASSED_TO_KERAS = ("learning_rate", "weight_decay")

#: The width of a docstring line that lists the declared hyper-parameters.
_DOC_WIDTH = 88


def _document(doc: str, declaration) -> str:
    """``doc`` with its placeholder lines filled in from ``declaration``."""
    def arguments(match):
        indent = match.group(1)
        return "\n".join(indent + line for line in declaration.docstring_arguments(_DOC_WIDTH - len(indent)))

    if declaration is not None:
        doc = re.sub(r"^([ \t]*)" + re.escape(HYPERPARAMETERS_PLACEHOLDER) + r"[ \t]*$", arguments, doc,
                     flags=re.MULTILINE)
    return doc.replace("{{base_optimizer_keyword_args}}", BASE_OPTIMIZER_KEYWORD_ARGS)


class DeclaredOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer whose hyper-parameters are its class's ``declaration``.

    ``__init__(**kwargs)`` checks each declared hyper-parameter (its default when not
    given), passes ``learning_rate``, ``weight_decay`` and Keras's base-class arguments
    to ``keras.optimizers.Optimizer`` and keeps every other one as an attribute of the
    same name; ``get_config`` adds those to Keras's config. ``build`` makes the
    :attr:`slots` and then whatever :meth:`build_state` adds.
    """

    #: Set by each subclass: the ``HYPERPARAMETERS`` (a ``kvt.optimizers._common.Declaration``) of its file.
    declaration = None

    #: The per-variable slots (zeros shaped like each variable) that :meth:`build` makes, in order:
    #: attribute -> slot name; ``self.<attribute>[i]`` belongs to variable i (:meth:`slots_of`).
    slots: dict[str, str] = {}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__:
            cls.__doc__ = _document(cls.__doc__, cls.declaration)
        if cls.declaration is not None:
            # The constructor's signature, as help() and inspect show it, is the declaration's.
            Parameter = inspect.Parameter
            cls.__signature__ = inspect.Signature(
                [Parameter(p.name, Parameter.POSITIONAL_OR_KEYWORD, default=p.default)
                   for p in cls.declaration.parameters]
                + [Parameter(name, Parameter.KEYWORD_ONLY, default=default) for name, default in BASE_ARGUMENTS.items()
                   if name not in cls.declaration.defaults]
                + [Parameter("kwargs", Parameter.VAR_KEYWORD)])

    def __init__(self, *args, **kwargs):
        declared = self.declaration
        names = [parameter.name for parameter in declared.parameters]
        if len(args) > len(names):
            raise TypeError(f"{type(self).__name__} takes at most {len(names)} positional arguments "
                            f"({', '.join(names)}), got {len(args)}")
        for name, value in zip(names, args):
            if name in kwargs:
                raise TypeError(f"{type(self).__name__} got two values for argument '{name}'")
            kwargs[name] = value
        values = {}
        for parameter in declared.parameters:
            values[parameter.name] = parameter.validate(kwargs.pop(parameter.name, parameter.default))
        base = {key: kwargs.pop(key, default) for key, default in BASE_ARGUMENTS.items()}
        self.check_base_arguments(base)
        super().__init__(learning_rate=values["learning_rate"], weight_decay=values.get("weight_decay"),
                         **base, **kwargs)
        for key, value in values.items():
            if key not in _PASSED_TO_KERAS:
                setattr(self, key, value)
        self.finish_init(values)

    def check_base_arguments(self, base: dict) -> None:
        """Refuse base-class arguments the method does not support (none by default)."""

    def finish_init(self, values: dict) -> None:
        """Set up what the checked hyper-parameter ``values`` imply (nothing by default)."""

    def get_config(self):
        config = super().get_config()
        for parameter in self.declaration.parameters:
            if parameter.name == "learning_rate":
                continue  # Keras's config holds it (serialising a schedule)
            value = getattr(self, parameter.name)
            config[parameter.name] = parameter.to_config(value) if parameter.to_config else value
        return config

    # ------------------------------------------------------------------------- state

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        for attribute, name in self.slots.items():
            setattr(self, attribute, [self.add_variable_from_reference(v, name=name) for v in var_list])
        self.build_state(var_list)

    def build_state(self, var_list) -> None:
        """Make the state the method keeps beyond :attr:`slots` (nothing by default); runs once, in ``build``."""

    def slots_of(self, variable) -> list:
        """``variable``'s slots, in the order of :attr:`slots`."""
        i = self._get_variable_index(variable)
        return [getattr(self, attribute)[i] for attribute in self.slots]

    def shaped_slot(self, variable, shape, name, initializer="zeros"):
        """A slot of ``variable`` with a shape of its own, named after the variable's path."""
        prefix = variable.path.replace("/", "_") + "_" if hasattr(variable, "path") else ""
        return self.add_variable(shape=shape, dtype=variable.dtype, initializer=initializer,
                                 name=f"{prefix}{name}")

    def build_momentum(self, var_list) -> None:
        """The momentum slots of :meth:`heavy_ball_step` (none when the ``momentum`` hyper-parameter is 0)."""
        self._momentums = ([self.add_variable_from_reference(v, name="momentum") for v in var_list]
                           if self.momentum > 0 else [])

    def heavy_ball_step(self, variable, step, learning_rate) -> None:
        """θ ← θ − lr·m with m ← μ m + ``step`` (μ = ``momentum``; θ ← θ − lr·``step`` when μ = 0)."""
        lr, momentum = cast_all(variable.dtype, learning_rate, self.momentum)
        if self.momentum > 0:
            m = self._momentums[self._get_variable_index(variable)]
            self.assign(m, ops.add(ops.multiply(momentum, m), step))
            step = m
        self.assign_sub(variable, ops.multiply(lr, step))

    def every_k_steps(self, k: int, action) -> None:
        """Run ``action()`` at steps t = 1, 1 + k, 1 + 2k, … (also traced, in graph mode)."""
        if k == 1:
            action()
        else:
            ops.cond(ops.equal(ops.mod(self.iterations, k), 0), action, lambda: None)


class CoupledWeightDecay:
    """Mixin for optimizers whose update rule contains the weight-decay term itself.

    Keras's base ``Optimizer`` would also apply decoupled decay (theta -= lr*wd*theta)
    from the same ``weight_decay`` attribute before every step; these optimizers use
    ``weight_decay`` inside ``update_step`` instead, so the base class's decay is off.
    """

    def _apply_weight_decay(self, variables):
        return


def step_count(optimizer, dtype):
    """t = 1, 2, ... of the step being taken, as a tensor of ``dtype``."""
    return ops.cast(optimizer.iterations + 1, dtype)


def cast_all(dtype, *values):
    """``values`` as tensors of ``dtype``.

    Python numbers are converted straight to ``dtype`` (``ops.cast`` would go
    through float32 first and round e.g. 0.9 before widening it to float64).
    """
    return [ops.convert_to_tensor(v, dtype=dtype) if isinstance(v, (int, float))
            else ops.cast(v, dtype) for v in values]


def moving_average(average, decay, value):
    """β a + (1 − β) x: the exponential moving average ``average`` after ``value``."""
    return ops.add(ops.multiply(decay, average), ops.multiply(1.0 - decay, value))


# ----------------------------------------------------------------------------- train steps

def needs_train_step(method: str, needs: str, cls: str, call: str) -> str:
    """The error of an optimizer that cannot step from gradients alone when it is asked to."""
    return (f"{method} needs {needs}, which plain apply_gradients() / keras.Sequential.train_step do not "
            f"provide: train a kvt.network.model.Network (kvt.network.model.build_model()), whose "
            f"train_step calls {cls}.train_step, or call {cls}.{call} in a custom loop")


def forward_pass(model, x, y, sample_weight):
    """A custom ``train_step``'s forward pass: (scaled loss, loss, y_pred), as Keras computes them."""
    y_pred = model(x, training=True)
    loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=True)
    return model.optimizer.scale_loss(loss), loss, y_pred


def report_step(model, x, y, y_pred, loss, sample_weight):
    """Update the loss tracker and the compiled metrics as Keras's ``train_step`` does; return the logs."""
    import tensorflow as tf

    tracker = getattr(model, "_loss_tracker", None)
    if tracker is not None:
        batch_size = tf.shape(next(t for t in tf.nest.flatten(x) if t is not None))[0]
        tracker.update_state(loss, sample_weight=batch_size)
    return model.compute_metrics(x, y, y_pred, sample_weight=sample_weight)


def step_from_loss_function(model, data, step):
    """The ``train_step`` of an optimizer that steps from the loss as a function (AdaHessian, SAM).

    ``step(forward, variables)`` takes the optimizer's step for ``model``'s trainable
    ``variables`` and returns what ``forward()`` (:func:`forward_pass` with ``training=True``)
    returned at the unchanged weights; the loss and the compiled metrics are updated from that.
    A model without trainable variables gets the forward pass only (and Keras's warning).
    """
    x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
    variables = list(model.trainable_variables)

    def forward():
        return forward_pass(model, x, y, sample_weight)

    if not variables:
        warnings.warn("The model does not have any trainable weights.")
        _, loss, y_pred = forward()
    else:
        _, loss, y_pred = step(forward, variables)
    return report_step(model, x, y, y_pred, loss, sample_weight)
