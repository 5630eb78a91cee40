"""Apollo: an adaptive diagonal quasi-Newton method."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers import _common as check
from kvt.optimizers import study
from kvt.optimizers.base import DeclaredOptimizer


@keras.saving.register_keras_serializable(package="kvt")
class Apollo(check.CoupledWeightDecay, DeclaredOptimizer):
    r"""Apollo (adaptive parameter-wise diagonal quasi-Newton).

    Keeps a diagonal curvature estimate B, updated from the change of the
    (bias-corrected) gradient average along the previous step direction d under a
    weak secant condition, and steps along m / max(|B|, 1) (the rectified,
    positive-definite Hessian approximation). For each variable θ with gradient g
    at step t, with m, B and d starting at 0::

        lr_t = init_lr + (lr − init_lr) · (t − 1) / warmup   while t − 1 < warmup, else lr
        g ← g + wd θ                                         (L2 weight decay)
        a = (1 − β) / (1 − βᵗ);   Δg = g − m;   m ← m + a Δg
        n = ‖d‖₄ + ε;   u = d / n;   w = u²
        δ = −a · Σ(Δg / n · u) − Σ(B · w);   B ← B + δ · w
        d = m / max(|B|, 1)
        θ ← θ − lr_t · d

    Σ and ‖·‖₄ run over all elements of the variable.

    Described in ``docs/optimizers.md`` (section ``apollo``).

    Args:
        learning_rate: float or schedule, lr (the rate after warm-up). Defaults to ``1e-2``.
        beta: decay of the gradient average m, in [0, 1). Defaults to ``0.9``.
        epsilon: ε > 0 added to ‖d‖₄. Defaults to ``1e-4``.
        weight_decay: L2 coefficient wd >= 0 added to the gradient (coupled, part of
            the update above; Keras's decoupled decay is not used). Defaults to ``1e-3``.
        warmup: number of linear warm-up steps from ``init_lr`` to lr (0 = none).
            Defaults to ``100``.
        init_lr: learning rate at the first warm-up step, >= 0. Defaults to ``1e-2``.
        {{base_optimizer_keyword_args}}.

    References:
        Ma, "Apollo: An Adaptive Parameter-wise Diagonal Quasi-Newton Method for
        Nonconvex Stochastic Optimization", 2020, arXiv:2009.13586.
    """

    declaration = study.APOLLO

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        self._m = [self.add_variable_from_reference(v, name="grad_average") for v in var_list]
        self._b = [self.add_variable_from_reference(v, name="curvature") for v in var_list]
        self._d = [self.add_variable_from_reference(v, name="direction") for v in var_list]

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, beta, eps, wd, init_lr = check.cast_all(
            dtype, learning_rate, self.beta, self.epsilon, self.weight_decay, self.init_lr)
        t = check.step_count(self, dtype)
        i = self._get_variable_index(variable)
        m, b, d = self._m[i], self._b[i], self._d[i]

        done = t - 1.0
        warmup = ops.cast(self.warmup, dtype)
        warm_lr = init_lr + (lr - init_lr) * done / ops.maximum(warmup, 1.0)
        lr_t = ops.where(done < warmup, warm_lr, lr)

        g = ops.add(ops.cast(gradient, dtype), ops.multiply(wd, variable))
        a = (1.0 - beta) / (1.0 - ops.power(beta, t))
        delta_g = ops.subtract(g, m)
        self.assign_add(m, ops.multiply(a, delta_g))

        n = ops.power(ops.sum(ops.power(d, 4)), 0.25) + eps
        u = ops.divide(d, n)
        w = ops.square(u)
        delta = -a * ops.sum(ops.divide(delta_g, n) * u) - ops.sum(ops.multiply(b, w))
        self.assign_add(b, ops.multiply(delta, w))
        self.assign(d, ops.divide(m, ops.maximum(ops.abs(b), 1.0)))
        self.assign_sub(variable, ops.multiply(lr_t, d))
