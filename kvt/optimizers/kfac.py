"""K-FAC (Kronecker-factored approximate curvature) for Dense layers, and the train
step that captures what it needs.

Pieces:

* ``DenseFactors(kernel, bias, inputs, output_grads)``: for one Dense layer of one
  step, its kernel and bias variables (bias may be None), the layer's input a
  (batch × n_in) and the gradient of the (scaled) loss with respect to the layer's
  pre-activation output s = a W + b (batch × n_out).
* ``KFAC.apply_kfac_gradients(grads, variables, layers)`` updates the factors A and
  G of each layer, preconditions its [W; b] gradient and takes the momentum step.
  Plain ``apply_gradients`` / ``apply`` raise (no layer statistics).
* ``dense_records(model, x)`` runs a ``keras.Sequential`` layer by layer, computing each
  Dense layer's pre-activation explicitly (its kernel and bias, then its activation)
  so that its input and output are tensors of the gradient tape.
* ``KFAC.train_step(model, data)`` does one such pass and one K-FAC step (kvt's
  train-step protocol, :mod:`kvt.network.protocol`).
"""

from __future__ import annotations

import warnings
from typing import Any, NamedTuple

import keras
import tensorflow as tf
from keras import ops

from kvt.errors import KvtError
from kvt.optimizers._common import (DECOUPLED, LR, H, Listing, declare, decoupled_decay, fraction, positive,
                                    positive_int, rate)
from kvt.optimizers.base import DeclaredOptimizer, needs_train_step, report_step

# The registry reads these two from this file without importing it: kvt.optimizers._common's names only.
HYPERPARAMETERS = declare(
    H("learning_rate", 0.01, rate, LR),
    H("damping", 1e-2, positive, "damping lambda > 0; sqrt(lambda) is added to the factors' diagonals"),
    H("momentum", 0.9, fraction, "momentum in [0, 1) on the preconditioned step"),
    H("ema_decay", 0.95, fraction, "decay in [0, 1) of the factors' moving averages"),
    H("update_every", 1, positive_int, "recompute the damped inverses every k >= 1 steps"),
    H("weight_decay", 3e-4, decoupled_decay, DECOUPLED),
    study=("learning_rate", "weight_decay", "damping", "momentum", "ema_decay", "update_every"))

REGISTRY_ENTRY = Listing(
    "kfac", "KFAC", "K-FAC, Kronecker-factored natural gradient for Dense layers (Martens & Grosse 2015)",
    notes="Empirical Fisher: KFAC.train_step (called by the network's train_step) "
          "computes each Dense layer's pre-activation explicitly to capture its input "
          "and dL/ds in the one backward pass. BatchNorm variables take a plain momentum "
          "step. weight_decay is Keras's decoupled decay (theta <- theta - lr*wd*theta).")

_NO_FACTORS = needs_train_step("K-FAC", "each Dense layer's inputs and pre-activation gradients", "KFAC",
                               "apply_kfac_gradients(grads, variables, layers)")


class DenseFactors(NamedTuple):
    """What K-FAC needs from one Dense layer for one step."""

    kernel: Any  # the kernel variable W (n_in × n_out)
    bias: Any  # the bias variable b (n_out,), or None
    inputs: Any  # layer input a, (..., n_in)
    output_grads: Any  # ∂(scaled loss)/∂s for s = a W + b, (..., n_out)


def is_kfac_dense(layer) -> bool:
    """Dense layers K-FAC preconditions: plain trainable kernels (no LoRA, no quantisation)."""
    return (isinstance(layer, keras.layers.Dense) and layer.trainable
            and not getattr(layer, "lora_enabled", False)
            and getattr(layer, "quantization_mode", None) is None)


def dense_records(model, x, training=True):
    """The output of ``model`` on ``x`` and, per K-FAC Dense layer, (layer, input a, pre-activation s).

    A model with its own ``forward_with_dense_records(x, training)`` (a functional
    network, e.g. the synthetic benchmark's) is asked for them; a ``keras.Sequential``
    runs its layers one by one, computing s = a W + b of each trainable Dense layer (no
    LoRA / quantisation) explicitly from the kernel and bias, then the activation. (A
    Dense layer's activity regulariser, applied in ``Layer.__call__``, is not applied.)
    """
    own = getattr(model, "forward_with_dense_records", None)
    if own is not None:
        return own(x, training=training)
    if not isinstance(model, keras.Sequential):
        raise KvtError(f"K-FAC needs the Dense layers' inputs and pre-activations: "
                       f"{type(model).__name__} is not a keras.Sequential and has no "
                       f"forward_with_dense_records(x, training)")
    records = []
    h = x
    for layer in model.layers:
        if is_kfac_dense(layer):
            a = ops.cast(h, layer.compute_dtype)
            s = ops.matmul(a, layer.kernel)
            if layer.bias is not None:
                s = ops.add(s, layer.bias)
            records.append((layer, a, s))
            h = layer.activation(s) if layer.activation is not None else s
        else:
            h = layer(h, training=training)
    return h, records


@keras.saving.register_keras_serializable(package="kvt")
class KFAC(DeclaredOptimizer):
    r"""K-FAC for Dense layers, momentum SGD for everything else.

    For each Dense layer with input a (batch of B rows), bias b and pre-activation
    output s = a W + b (before the layer's activation), per step t::

        ā    = [a, 1]                        (a 0 instead of 1 when the layer has no bias)
        δ    = ∂L/∂s                         (L = the batch-mean loss, so δᵢ = ∇ₛℓᵢ / B)
        Â    = āᵀ ā / B;   Ĝ = B δᵀ δ       (E[ā āᵀ] and E[∇ₛℓ ∇ₛℓᵀ] over the batch)
        A    ← β A + (1 − β) Â;   G ← β G + (1 − β) Ĝ      (β = 0 at t = 1: A = Â, G = Ĝ)
        P    = (A + √λ I)⁻¹ [∇W; ∇b] (G + √λ I)⁻¹          (inverses refreshed every k steps)
        v    ← μ v + P;   θ ← θ − lr · v                    (θ = W and b, split back from P)

    Every other trainable variable (BatchNorm γ/β, …) takes the same momentum step
    with P = its gradient. Weight decay is decoupled (Keras's base-class decay):
    θ ← θ − lr · wd · θ before the step, on every variable.

    Fisher: the *empirical* Fisher. δ is the gradient of the actual training loss
    (the observed targets), so A, G and the gradient all come from the one forward
    and backward pass the step needs anyway. The true Fisher would backpropagate a
    second time with targets sampled from the model's predictive Gaussian
    (y ~ N(f(x), σ²)), about doubling the backward cost of a step. The price: G
    scales with the squared residuals, so as the fit improves G shrinks and the
    preconditioned step grows, bounded by the damping (at most about ∇/√λ along
    G); λ therefore matters more than with the true Fisher.

    The optimizer cannot form A and G from gradients alone: train a
    :class:`kvt.network.model.Network` with ``fit`` (its ``train_step`` calls
    :meth:`train_step`), or call
    ``apply_kfac_gradients(grads, variables, layers)``. ``apply_gradients`` /
    ``apply`` raise a ``KvtError`` that says so. Factor slots (A, (n_in+1)²; G,
    n_out²) are created for every rank-2 variable; a kernel with no statistics in
    a step takes the plain momentum step. The damped inverses are recomputed at
    t = 1, 1 + k, … (k = ``update_every``) and cached in between; clipping acts on
    the preconditioned gradient P.

    Described in ``docs/optimizers.md`` (section ``kfac``).

    Args:
        {{hyperparameters}}
        {{base_optimizer_keyword_args}}.

    References:
        Martens & Grosse, "Optimizing Neural Networks with Kronecker-factored
        Approximate Curvature", ICML 2015, arXiv:1503.05671.
    """

    declaration = HYPERPARAMETERS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Preconditioned gradients of the step being applied are handed to
        # update_step through apply(); this flag is True only inside
        # apply_kfac_gradients().
        self._preconditioned = False

    def _slot(self, variable, size, name):
        return self.shaped_slot(variable, (size, size), name)

    def build_state(self, var_list):
        cache = self.update_every > 1
        self._a_factors, self._g_factors, self._a_inverses, self._g_inverses = [], [], [], []
        for v in var_list:
            matrix = len(v.shape) == 2
            n_in, n_out = (v.shape[0] + 1, v.shape[1]) if matrix else (0, 0)
            self._a_factors.append(self._slot(v, n_in, "kfac_A") if matrix else None)
            self._g_factors.append(self._slot(v, n_out, "kfac_G") if matrix else None)
            self._a_inverses.append(self._slot(v, n_in, "kfac_A_inv") if matrix and cache else None)
            self._g_inverses.append(self._slot(v, n_out, "kfac_G_inv") if matrix and cache else None)
        self.build_momentum(var_list)

    def apply(self, grads, trainable_variables=None):
        if not self._preconditioned:
            raise KvtError(_NO_FACTORS)
        return super().apply(grads, trainable_variables)

    def _damped_inverses(self, i, dtype):
        """(A + √λ I)⁻¹ and (G + √λ I)⁻¹ of variable i (refreshed or cached)."""
        shift = ops.sqrt(ops.convert_to_tensor(self.damping, dtype=dtype))

        def inverses():
            a, g = self._a_factors[i], self._g_factors[i]
            eye_a = ops.eye(a.shape[0], dtype=dtype)
            eye_g = ops.eye(g.shape[0], dtype=dtype)
            return (ops.inv(ops.add(ops.convert_to_tensor(a), shift * eye_a)),
                    ops.inv(ops.add(ops.convert_to_tensor(g), shift * eye_g)))

        if self.update_every == 1:
            return inverses()
        a_inv, g_inv = self._a_inverses[i], self._g_inverses[i]

        def refresh():
            new_a, new_g = inverses()
            self.assign(a_inv, new_a)
            self.assign(g_inv, new_g)

        self.every_k_steps(self.update_every, refresh)
        return ops.convert_to_tensor(a_inv), ops.convert_to_tensor(g_inv)

    def apply_kfac_gradients(self, grads, variables, layers):
        """One K-FAC step.

        Args:
            grads: gradients of the (scaled) loss, one per variable.
            variables: the variables to update.
            layers: ``DenseFactors`` of the Dense layers whose kernel is among
                ``variables`` (others are ignored); the rest of ``variables`` take a
                plain momentum step.
        """
        grads, variables = list(grads), list(variables)
        if len(grads) != len(variables):
            raise ValueError(f"apply_kfac_gradients needs one gradient per variable, got "
                             f"{len(grads)} gradients and {len(variables)} variables")
        if not self.built:
            self.build(variables)
        position = {self._var_key(v): j for j, v in enumerate(variables)}
        grads = [None if g is None else ops.convert_to_tensor(g) for g in grads]
        scale = self.loss_scale_factor
        first = ops.equal(self.iterations, 0)
        for layer in layers:
            j = position.get(self._var_key(layer.kernel))
            if j is None or grads[j] is None:
                continue
            kernel = layer.kernel
            dtype = kernel.dtype
            i = self._get_variable_index(kernel)
            n_in, n_out = kernel.shape
            k = position.get(self._var_key(layer.bias)) if layer.bias is not None else None
            has_bias = k is not None and grads[k] is not None

            a = ops.reshape(ops.cast(layer.inputs, dtype), (-1, n_in))
            delta = ops.reshape(ops.cast(layer.output_grads, dtype), (-1, n_out))
            if scale is not None:
                delta = delta / scale  # G uses the unscaled δ; P is linear in the scaled ∇
            rows = ops.cast(ops.shape(a)[0], dtype)
            column = ops.ones_like(a[:, :1]) if has_bias else ops.zeros_like(a[:, :1])
            a_bar = ops.concatenate([a, column], axis=1)
            a_batch = ops.matmul(ops.transpose(a_bar), a_bar) / rows
            g_batch = ops.matmul(ops.transpose(delta), delta) * rows

            beta = ops.where(first, ops.zeros((), dtype=dtype),
                             ops.convert_to_tensor(self.ema_decay, dtype=dtype))
            a_factor, g_factor = self._a_factors[i], self._g_factors[i]
            self.assign(a_factor, beta * a_factor + (1.0 - beta) * a_batch)
            self.assign(g_factor, beta * g_factor + (1.0 - beta) * g_batch)
            a_inv, g_inv = self._damped_inverses(i, dtype)

            bias_grad = (ops.reshape(ops.cast(grads[k], dtype), (1, n_out)) if has_bias
                         else ops.zeros((1, n_out), dtype=dtype))
            joint = ops.concatenate([ops.cast(grads[j], dtype), bias_grad], axis=0)
            preconditioned = ops.matmul(ops.matmul(a_inv, joint), g_inv)
            grads[j] = preconditioned[:n_in]
            if has_bias:
                grads[k] = ops.reshape(preconditioned[n_in], ops.shape(layer.bias))

        self._preconditioned = True
        try:
            return self.apply(grads, variables)
        finally:
            self._preconditioned = False

    def update_step(self, gradient, variable, learning_rate):
        if not self._preconditioned:
            raise KvtError(_NO_FACTORS)
        self.heavy_ball_step(variable, ops.cast(gradient, variable.dtype), learning_rate)

    def train_step(self, model, data):
        """One backward pass for the gradients and each Dense layer's dL/ds, then one K-FAC step.

        The forward pass (``training=True``) is :func:`dense_records`; the loss tracker and
        the compiled metrics are updated like Keras's own ``train_step``.
        """
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        variables = list(model.trainable_variables)
        with tf.GradientTape() as tape:
            y_pred, records = dense_records(model, x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                      training=True)
            scaled = self.scale_loss(loss)
        if not variables:
            warnings.warn("The model does not have any trainable weights.")
        else:
            pre_activations = [s for _, _, s in records]
            all_grads = tape.gradient(scaled, variables + pre_activations,
                                      unconnected_gradients=tf.UnconnectedGradients.ZERO)
            grads, output_grads = all_grads[:len(variables)], all_grads[len(variables):]
            layers = [DenseFactors(layer.kernel, layer.bias, a, d)
                      for (layer, a, _), d in zip(records, output_grads)]
            self.apply_kfac_gradients(grads, variables, layers)

        return report_step(model, x, y, y_pred, loss, sample_weight)
