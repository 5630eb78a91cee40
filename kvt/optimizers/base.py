"""The base class of kvt's own optimizers: constructor, validation, ``get_config`` and the
docstring's base-class arguments, all from the class's :class:`~kvt.optimizers._common.Declaration`."""

from __future__ import annotations

import inspect

import keras

from kvt.optimizers._common import BASE_ARGUMENTS

#: The docstring text for :data:`BASE_ARGUMENTS`; ``{{base_optimizer_keyword_args}}`` in a
#: subclass's docstring is replaced by it (as Keras does for its own optimizers).
BASE_OPTIMIZER_KEYWORD_ARGS = """clipnorm, clipvalue, global_clipnorm, use_ema, ema_momentum,
        ema_overwrite_frequency, loss_scale_factor, gradient_accumulation_steps,
        name: as in ``keras.optimizers.Optimizer``"""

#: Arguments handed to ``keras.optimizers.Optimizer.__init__`` rather than kept as attributes.
_PASSED_TO_KERAS = ("learning_rate", "weight_decay")


class DeclaredOptimizer(keras.optimizers.Optimizer):
    """A Keras optimizer whose hyper-parameters are its class's ``declaration``.

    ``__init__(**kwargs)`` checks each declared hyper-parameter (its default when not
    given), passes ``learning_rate``, ``weight_decay`` and Keras's base-class arguments
    to ``keras.optimizers.Optimizer`` and keeps every other one as an attribute of the
    same name; ``get_config`` adds those to Keras's config.
    """

    #: Set by each subclass: a ``kvt.optimizers._common.Declaration``.
    declaration = None

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__doc__:
            cls.__doc__ = cls.__doc__.replace("{{base_optimizer_keyword_args}}", BASE_OPTIMIZER_KEYWORD_ARGS)
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
