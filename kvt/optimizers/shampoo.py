"""Shampoo: Kronecker-factored (left/right) preconditioning of matrix variables,
an Adagrad-like diagonal one for everything else."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kvt.optimizers._common import (DECOUPLED, LR, H, Listing, declare, decoupled_decay, fraction, positive,
                                    positive_int, rate)
from kvt.optimizers.base import DeclaredOptimizer

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 0.1, rate, LR),
    H("epsilon", 1e-4, positive, "eps > 0: L and R start at eps*I; floor of their eigenvalues"),
    H("update_every", 1, positive_int, "refresh the inverse 4th roots every k >= 1 steps"),
    H("momentum", 0.0, fraction, "heavy-ball momentum in [0, 1) on the preconditioned step"),
    H("weight_decay", 1e-4, decoupled_decay, DECOUPLED),
    study=("learning_rate", "weight_decay", "epsilon", "update_every", "momentum"))

REGISTRY_ENTRY = Listing(
    "shampoo", "Shampoo",
    "Shampoo, Kronecker-factored L^(-1/4) G R^(-1/4) preconditioning (Gupta et al. 2018)",
    notes="Matrices (Dense kernels) get left/right factors L, R (start eps*I) with inverse "
          "4th roots by eigh, refreshed every update_every steps; vectors (biases, "
          "BatchNorm) an Adagrad-like diagonal g/sqrt(sum g^2). weight_decay is Keras's "
          "decoupled decay (theta <- theta - lr*wd*theta).")


def inverse_root(matrix, power, floor):
    """M^(−1/power) of a symmetric positive (semi-)definite M by eigen-decomposition.

    M = Q diag(λ) Qᵀ → Q diag(max(λ, floor)^(−1/power)) Qᵀ. The floor keeps round-off
    (eigenvalues a little below their true value ≥ ε) from blowing up the root.
    ``tf.linalg.eigh`` runs in graph mode and under XLA.
    """
    dtype = matrix.dtype
    matrix = 0.5 * (matrix + ops.transpose(matrix))  # exact symmetry for eigh
    eigenvalues, eigenvectors = tf.linalg.eigh(matrix)
    eigenvalues = ops.maximum(eigenvalues, ops.convert_to_tensor(floor, dtype=dtype))
    scaled = eigenvectors * ops.power(eigenvalues, ops.convert_to_tensor(-1.0 / power, dtype=dtype))
    return ops.matmul(scaled, ops.transpose(eigenvectors))


@keras.saving.register_keras_serializable(package="kvt")
class Shampoo(DeclaredOptimizer):
    r"""Shampoo (Kronecker-factored preconditioner, with Adagrad on vectors).

    For a matrix variable θ (n × c) with gradient G at step t, L and R starting at
    ε I (n × n and c × c)::

        L ← L + G Gᵀ
        R ← R + Gᵀ G
        every k steps (t = 1, 1 + k, 1 + 2k, …):  L₄ = L^(−1/4),  R₄ = R^(−1/4)
        P = L₄ G R₄
        θ ← θ − lr · P

    For every other variable (biases, BatchNorm γ/β, scalars and tensors of
    rank > 2), the diagonal version with power −1/2, a starting at ε::

        a ← a + g²
        P = g / √a
        θ ← θ − lr · P

    The roots use an eigen-decomposition (``tf.linalg.eigh``, graph-mode and
    XLA-compatible) with eigenvalues floored at ε; between refreshes the cached
    roots L₄, R₄ (which start at ε^(−1/4) I) are reused while L and R keep
    accumulating. With ``momentum`` μ > 0 the step is heavy-ball momentum on the
    preconditioned gradient: m ← μ m + P; θ ← θ − lr · m.

    Weight decay is decoupled (Keras's base-class decay): θ ← θ − lr · wd · θ before
    the preconditioned step, on every variable; it does not enter L, R or a. Clipping
    acts on G before it enters L, R and P. ``update_every`` = 1 (the default) refreshes
    the roots every step, as in the paper's algorithm.

    Described in ``docs/optimizers.md`` (section ``shampoo``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
        Optimization", ICML 2018, arXiv:1802.09568.
    """

    declaration = HYPERPARAMETERS

    @staticmethod
    def is_matrix(variable):
        """Whether ``variable`` gets the two-sided (L, R) preconditioner."""
        return len(variable.shape) == 2

    def _slot(self, variable, shape, value, name):
        """A slot of ``shape`` holding value·I (matrices) or value everywhere."""
        def initializer(shape, dtype=None):
            # Through float64 numpy, so that e.g. ε = 0.01 is not rounded to float32
            # on its way to a float64 slot.
            array = value * (np.eye(shape[0]) if len(shape) == 2 else np.ones(shape))
            return ops.convert_to_tensor(array, dtype=dtype)

        return self.shaped_slot(variable, shape, name, initializer)

    def build_state(self, var_list):
        eps = self.epsilon
        # One entry per variable; None where a slot does not apply (tracking skips None).
        self._left, self._right, self._left_root, self._right_root, self._diagonal = (
            [], [], [], [], [])
        for v in var_list:
            if self.is_matrix(v):
                n, c = v.shape
                self._left.append(self._slot(v, (n, n), eps, "shampoo_L"))
                self._right.append(self._slot(v, (c, c), eps, "shampoo_R"))
                self._left_root.append(self._slot(v, (n, n), eps ** -0.25, "shampoo_L_root"))
                self._right_root.append(self._slot(v, (c, c), eps ** -0.25, "shampoo_R_root"))
                self._diagonal.append(None)
            else:
                self._left.append(None)
                self._right.append(None)
                self._left_root.append(None)
                self._right_root.append(None)
                self._diagonal.append(self._slot(v, tuple(v.shape), eps, "shampoo_diag"))
        self.build_momentum(var_list)

    def update_step(self, gradient, variable, learning_rate):
        g = ops.cast(gradient, variable.dtype)
        i = self._get_variable_index(variable)

        if self.is_matrix(variable):
            left, right = self._left[i], self._right[i]
            left_root, right_root = self._left_root[i], self._right_root[i]
            self.assign_add(left, ops.matmul(g, ops.transpose(g)))
            self.assign_add(right, ops.matmul(ops.transpose(g), g))

            def refresh():
                self.assign(left_root, inverse_root(ops.convert_to_tensor(left), 4.0, self.epsilon))
                self.assign(right_root, inverse_root(ops.convert_to_tensor(right), 4.0, self.epsilon))

            self.every_k_steps(self.update_every, refresh)
            step = ops.matmul(ops.matmul(left_root, g), right_root)
        else:
            accumulator = self._diagonal[i]
            self.assign_add(accumulator, ops.square(g))
            step = ops.divide(g, ops.sqrt(accumulator))

        self.heavy_ball_step(variable, step, learning_rate)
