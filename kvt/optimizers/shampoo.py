"""Shampoo: Kronecker-factored (left/right) preconditioning of matrix variables,
an Adagrad-like diagonal one for everything else."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from kvt.optimizers import _common as check
from kvt.optimizers import curvature
from kvt.optimizers.base import DeclaredOptimizer


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
    the preconditioned step, on every variable; it does not enter L, R or a.

    Described in ``docs/optimizers.md`` (section ``shampoo``).

    Args:
        learning_rate: float or schedule, lr. Defaults to ``0.1``.
        epsilon: ε > 0, initial value εI of L and R (and of a), floor of the
            eigenvalues. Defaults to ``1e-4``.
        update_every: k >= 1, refresh the inverse roots every k steps. Defaults to
            ``1`` (every step, as in the paper's algorithm).
        momentum: μ in [0, 1) on the preconditioned gradient. Defaults to ``0.0``.
        weight_decay: None or wd >= 0, decoupled as above. Defaults to ``1e-4``.
        {{base_optimizer_keyword_args}} (clipping acts on G before it
            enters L, R and P).

    References:
        Gupta, Koren & Singer, "Shampoo: Preconditioned Stochastic Tensor
        Optimization", ICML 2018, arXiv:1802.09568.
    """

    declaration = curvature.SHAMPOO

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

        prefix = variable.path.replace("/", "_") + "_" if hasattr(variable, "path") else ""
        return self.add_variable(shape=shape, dtype=variable.dtype, initializer=initializer,
                                 name=f"{prefix}{name}")

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
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
        self._momentums = ([self.add_variable_from_reference(v, name="momentum") for v in var_list]
                           if self.momentum > 0 else [])

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr, momentum = check.cast_all(dtype, learning_rate, self.momentum)
        g = ops.cast(gradient, dtype)
        i = self._get_variable_index(variable)

        if self.is_matrix(variable):
            left, right = self._left[i], self._right[i]
            left_root, right_root = self._left_root[i], self._right_root[i]
            self.assign_add(left, ops.matmul(g, ops.transpose(g)))
            self.assign_add(right, ops.matmul(ops.transpose(g), g))

            def refresh():
                self.assign(left_root, inverse_root(ops.convert_to_tensor(left), 4.0, self.epsilon))
                self.assign(right_root, inverse_root(ops.convert_to_tensor(right), 4.0, self.epsilon))

            if self.update_every == 1:
                refresh()
            else:
                ops.cond(ops.equal(ops.mod(self.iterations, self.update_every), 0),
                         refresh, lambda: None)
            step = ops.matmul(ops.matmul(left_root, g), right_root)
        else:
            accumulator = self._diagonal[i]
            self.assign_add(accumulator, ops.square(g))
            step = ops.divide(g, ops.sqrt(accumulator))

        if self.momentum > 0:
            m = self._momentums[i]
            self.assign(m, ops.add(ops.multiply(momentum, m), step))
            step = m
        self.assign_sub(variable, ops.multiply(lr, step))
