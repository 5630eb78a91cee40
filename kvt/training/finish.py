"""The second-order finish of accurate mode: full-batch L-BFGS on the trained network (``--finish lbfgs``)."""

from __future__ import annotations

from typing import Any

import numpy as np


def lbfgs_finish(model, x, y, iterations: int, stop_requested=None) -> dict[str, Any]:
    """Polish ``model`` with full-batch L-BFGS (scipy) on the MSE, BatchNorm frozen.

    The network is evaluated in inference mode, so batch normalisation is the fixed
    affine map of its moving statistics (with trainable scale and offset) and the
    loss is a smooth deterministic function of the weights, as L-BFGS needs. ``stop_requested()``
    true ends it after the current iteration (Ctrl-C, :mod:`kvt.training.interrupt`).
    """
    import tensorflow as tf
    from scipy.optimize import minimize

    variables = model.trainable_variables
    shapes = [tuple(v.shape) for v in variables]
    sizes = [int(np.prod(shape)) for shape in shapes]
    dtype = variables[0].dtype
    x_t, y_t = tf.constant(x, dtype=dtype), tf.constant(y, dtype=dtype)

    @tf.function
    def loss_and_gradient(flat):
        for variable, part, shape in zip(variables, tf.split(flat, sizes), shapes):
            variable.assign(tf.reshape(part, shape))
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x_t, training=False) - y_t))
        gradients = tape.gradient(loss, variables)
        return loss, tf.concat([tf.reshape(g, [-1]) for g in gradients], axis=0)

    def objective(flat):
        loss, gradient = loss_and_gradient(tf.constant(flat, dtype=dtype))
        return float(loss), gradient.numpy().astype(np.float64)

    start = np.concatenate([np.asarray(v.numpy(), dtype=np.float64).ravel() for v in variables])
    initial_loss = objective(start)[0]
    trace = []  # the MSE after each iteration, for the loss plot

    def stop_if_requested(intermediate_result):
        trace.append(float(intermediate_result.fun))
        getattr(stop_requested, "raise_if_aborted", lambda: None)()  # a second Ctrl-C: abort
        if stop_requested is not None and stop_requested():
            raise StopIteration  # scipy ends the minimisation and returns the last iterate

    result = minimize(objective, start, jac=True, method="L-BFGS-B", callback=stop_if_requested,
                      options={"maxiter": iterations, "maxcor": 50, "ftol": 0.0, "gtol": 0.0})
    best = result.x if np.isfinite(result.fun) and result.fun <= initial_loss else start
    final_loss = objective(best)[0]  # leaves the model holding ``best``
    return {"method": "L-BFGS-B (scipy), full batch, BatchNorm frozen", "iterations": int(result.nit),
            "initial_mse": float(initial_loss), "final_mse": float(final_loss), "message": str(result.message),
            "mse_per_iteration": trace}
