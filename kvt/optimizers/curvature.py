"""The curvature-aware set (SAM, Shampoo, K-FAC; see docs/optimizers.md): each one's
hyper-parameters, declared once (defaults: the later study's values), and its registry
entry. Imports neither Keras nor TensorFlow; each optimizer class takes its
``declaration`` from here."""

from kvt.optimizers import _common as check
from kvt.errors import did_you_mean
from kvt.optimizers import registry
from kvt.optimizers._common import HyperParameter as H
from kvt.optimizers._common import declare
from kvt.optimizers.registry import declared, register

KFAC = "kvt.optimizers.kfac:KFAC"
SAM = "kvt.optimizers.sam:SAM"
Shampoo = "kvt.optimizers.shampoo:Shampoo"


def sam_bases():
    """Registry names SAM can wrap: those that step from gradients alone."""
    return [n for n in registry.names() if n != "sam" and registry.entry(n).train_step is None]


def sam_base(name, base):
    """SAM's ``base``: the registry name of a gradient-only optimizer (lower-cased)."""
    valid = sam_bases()
    if not isinstance(base, str):
        raise ValueError(f"{name} must be the registry name of an optimizer (one of "
                         f"{', '.join(valid)}), got {base!r}")
    key = base.strip().lower()
    if key in ("sam", "adahessian") or (key in registry.names()
                                         and registry.entry(key).train_step is not None):
        raise ValueError(f"{name} cannot be '{key}': SAM wraps an optimizer that steps from "
                         f"gradients alone ('{key}' needs its own train_step); valid bases: "
                         f"{', '.join(valid)}")
    if key not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {base!r}{did_you_mean(key, valid)}")
    return key


_LR = "step size lr (a float or a learning-rate schedule)"
_DECOUPLED = "Keras's decoupled decay theta <- theta - lr*wd*theta, or None (off)"

SAM_HP = declare(
    H("learning_rate", 0.03, check.rate, "step size lr, passed to the base optimizer"),
    H("rho", 0.1, check.positive, "radius rho > 0 of the perturbation rho*g/||g||"),
    H("base", "sgd", sam_base, "registry name of the gradient-only base optimizer"),
    H("weight_decay", None, check.decoupled_decay, _DECOUPLED + ", applied by SAM before the base step"),
    study=("learning_rate", "rho", "base"))

SHAMPOO = declare(
    H("learning_rate", 0.1, check.rate, _LR),
    H("epsilon", 1e-4, check.positive, "eps > 0: L and R start at eps*I; floor of their eigenvalues"),
    H("update_every", 1, check.positive_int, "refresh the inverse 4th roots every k >= 1 steps"),
    H("momentum", 0.0, check.fraction, "heavy-ball momentum in [0, 1) on the preconditioned step"),
    H("weight_decay", 1e-4, check.decoupled_decay, _DECOUPLED),
    study=("learning_rate", "weight_decay", "epsilon", "update_every", "momentum"))

KFAC_HP = declare(
    H("learning_rate", 0.01, check.rate, _LR),
    H("damping", 1e-2, check.positive, "damping lambda > 0; sqrt(lambda) is added to the factors' diagonals"),
    H("momentum", 0.9, check.fraction, "momentum in [0, 1) on the preconditioned step"),
    H("ema_decay", 0.95, check.fraction, "decay in [0, 1) of the factors' moving averages"),
    H("update_every", 1, check.positive_int, "recompute the damped inverses every k >= 1 steps"),
    H("weight_decay", 3e-4, check.decoupled_decay, _DECOUPLED),
    study=("learning_rate", "weight_decay", "damping", "momentum", "ema_decay", "update_every"))

register(declared(
    "sam", SAM, SAM_HP,
    "SAM, sharpness-aware minimisation around a base optimizer (Foret et al. 2021)",
    notes="Two forward/backward passes per step (gradient at theta, then at theta + "
          "rho*g/||g||, norm over all variables): SAM.train_step (called by the network's "
          "train_step) restores theta exactly and keeps BatchNorm moving statistics "
          "from the first pass. base is any gradient-only registry name (--opt base=adam); "
          "it gets its own registry defaults and SAM's learning_rate."))
register(declared(
    "shampoo", Shampoo, SHAMPOO,
    "Shampoo, Kronecker-factored L^(-1/4) G R^(-1/4) preconditioning (Gupta et al. 2018)",
    notes="Matrices (Dense kernels) get left/right factors L, R (start eps*I) with inverse "
          "4th roots by eigh, refreshed every update_every steps; vectors (biases, "
          "BatchNorm) an Adagrad-like diagonal g/sqrt(sum g^2). weight_decay is Keras's "
          "decoupled decay (theta <- theta - lr*wd*theta)."))
register(declared(
    "kfac", KFAC, KFAC_HP,
    "K-FAC, Kronecker-factored natural gradient for Dense layers (Martens & Grosse 2015)",
    notes="Empirical Fisher: KFAC.train_step (called by the network's train_step) "
          "computes each Dense layer's pre-activation explicitly to capture its input "
          "and dL/ds in the one backward pass. BatchNorm variables take a plain momentum "
          "step. weight_decay is Keras's decoupled decay (theta <- theta - lr*wd*theta)."))
