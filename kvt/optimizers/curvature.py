"""The curvature-aware set (SAM, Shampoo, K-FAC; see docs/optimizers.md), registered
with the later study's defaults."""

from kvt.optimizers.registry import OptimizerEntry, lazy, register

KFAC = "kvt.optimizers.kfac:KFAC"
SAM = "kvt.optimizers.sam:SAM"
Shampoo = "kvt.optimizers.shampoo:Shampoo"

register(OptimizerEntry(
    "sam", SAM, {"learning_rate": 0.03, "rho": 0.1, "base": "sgd"},
    "SAM, sharpness-aware minimisation around a base optimizer (Foret et al. 2021)",
    notes="Two forward/backward passes per step (gradient at theta, then at theta + "
          "rho*g/||g||, norm over all variables): the network is built as SAMSequential, "
          "whose train_step restores theta exactly and keeps BatchNorm moving statistics "
          "from the first pass. base is any gradient-only registry name (--opt base=adam); "
          "it gets its own registry defaults and SAM's learning_rate.",
    model_class=lazy("kvt.optimizers.sam:SAMSequential")))
register(OptimizerEntry(
    "shampoo", Shampoo,
    {"learning_rate": 0.1, "weight_decay": 1e-4, "epsilon": 1e-4, "update_every": 1,
     "momentum": 0.0},
    "Shampoo, Kronecker-factored L^(-1/4) G R^(-1/4) preconditioning (Gupta et al. 2018)",
    notes="Matrices (Dense kernels) get left/right factors L, R (start eps*I) with inverse "
          "4th roots by eigh, refreshed every update_every steps; vectors (biases, "
          "BatchNorm) an Adagrad-like diagonal g/sqrt(sum g^2). weight_decay is Keras's "
          "decoupled decay (theta <- theta - lr*wd*theta)."))
register(OptimizerEntry(
    "kfac", KFAC,
    {"learning_rate": 0.01, "weight_decay": 3e-4, "damping": 1e-2, "momentum": 0.9,
     "ema_decay": 0.95, "update_every": 1},
    "K-FAC, Kronecker-factored natural gradient for Dense layers (Martens & Grosse 2015)",
    notes="Empirical Fisher: the network is built as KFACSequential, whose train_step "
          "computes each Dense layer's pre-activation explicitly to capture its input "
          "and dL/ds in the one backward pass. BatchNorm variables take a plain momentum "
          "step. weight_decay is Keras's decoupled decay (theta <- theta - lr*wd*theta).",
    model_class=lazy("kvt.optimizers.kfac:KFACSequential")))
