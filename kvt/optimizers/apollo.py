"""Apollo: an adaptive diagonal quasi-Newton method."""

from __future__ import annotations

import keras
from keras import ops

from kvt.optimizers._common import (H, Listing, coupled_decay, declare, fraction, non_negative, non_negative_int,
                                    positive, rate)
from kvt.optimizers.base import CoupledWeightDecay, DeclaredOptimizer, cast_all, step_count

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 1e-2, rate, "step size lr after warm-up (a float or a schedule)"),
    H("beta", 0.9, fraction, "decay of the gradient average m, in [0, 1)"),
    H("epsilon", 1e-4, positive, "eps > 0 added to the 4-norm of the step direction"),
    H("weight_decay", 1e-3, coupled_decay, "L2 coefficient wd >= 0 added to the gradient (g + wd*theta)"),
    H("warmup", 100, non_negative_int, "linear warm-up steps from init_lr to lr (0 = none)"),
    H("init_lr", 1e-2, non_negative, "learning rate at the first warm-up step, >= 0"),
    study=("learning_rate", "beta", "weight_decay", "epsilon", "warmup", "init_lr"))

REGISTRY_ENTRY = Listing(
    "apollo", "Apollo", "Apollo, diagonal quasi-Newton with rectified curvature (Ma 2020)",
    notes="weight_decay is L2 added to the gradient (g + wd*theta); warm-up goes linearly "
          "from init_lr to learning_rate over `warmup` steps (a no-op with the study's "
          "init_lr = learning_rate = 1e-2).")


@keras.saving.register_keras_serializable(package="kvt")
class Apollo(CoupledWeightDecay, DeclaredOptimizer):
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

    Σ and ‖·‖₄ run over all elements of the variable. The weight decay is this L2
    term, part of the update (Keras's decoupled decay is not used).

    Described in ``docs/optimizers.md`` (section ``apollo``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Ma, "Apollo: An Adaptive Parameter-wise Diagonal Quasi-Newton Method for
        Nonconvex Stochastic Optimization", 2020, arXiv:2009.13586.
    """

    declaration = HYPERPARAMETERS
    slots = {"_m": "grad_average", "_b": "curvature", "_d": "direction"}

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, beta, eps, wd, init_lr = cast_all(
            dtype, learning_rate, self.beta, self.epsilon, self.weight_decay, self.init_lr)
        t = step_count(self, dtype)
        m, b, d = self.slots_of(variable)

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
