"""The study's own optimizers (see docs/optimizers.md), registered with its Table 1 defaults."""

from kvt.optimizers.registry import OptimizerEntry, lazy, register

AdaHessian = "kvt.optimizers.adahessian:AdaHessian"
AdaMod = "kvt.optimizers.adamod:AdaMod"
Apollo = "kvt.optimizers.apollo:Apollo"
LARS = "kvt.optimizers.lars:LARS"
MADGRAD = "kvt.optimizers.madgrad:MADGRAD"
RAdam = "kvt.optimizers.radam:RAdam"

register(OptimizerEntry(
    "adamod", AdaMod,
    {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "beta_3": 0.995, "epsilon": 1e-8},
    "AdaMod, Adam with step sizes capped by their running mean (Ding et al. 2019)"))
register(OptimizerEntry(
    "madgrad", MADGRAD, {"learning_rate": 1e-2, "momentum": 0.9, "epsilon": 1e-6},
    "MADGRAD, momentumised dual averaging with a cube-root denominator (Defazio & Jelassi 2021)",
    notes="theta_0 (the anchor of the dual average) is the value when the optimizer is built, "
          "just before the first step."))
register(OptimizerEntry(
    "radam", RAdam, {"learning_rate": 1e-3, "beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8},
    "RAdam, Adam with a rectified adaptive learning rate (Liu et al. 2019)",
    notes="Takes un-adapted momentum steps lr*m_hat while rho_t < 5 (the first ~5 steps "
          "with beta_2 = 0.999)."))
register(OptimizerEntry(
    "apollo", Apollo,
    {"learning_rate": 1e-2, "beta": 0.9, "weight_decay": 1e-3, "epsilon": 1e-4, "warmup": 100,
     "init_lr": 1e-2},
    "Apollo, diagonal quasi-Newton with rectified curvature (Ma 2020)",
    notes="weight_decay is L2 added to the gradient (g + wd*theta); warm-up goes linearly "
          "from init_lr to learning_rate over `warmup` steps (a no-op with the study's "
          "init_lr = learning_rate = 1e-2)."))
register(OptimizerEntry(
    "adahessian", AdaHessian,
    {"learning_rate": 1e-2, "beta_1": 0.9, "beta_2": 0.999, "weight_decay": 1e-3,
     "epsilon": 1e-4, "hessian_power": 1.0},
    "AdaHessian, Adam with a Hutchinson Hessian-diagonal second moment (Yao et al. 2020)",
    notes="Needs Hessian-vector products: the network is built as HessianSequential, whose "
          "train_step draws fresh Rademacher vectors every step (about 2-3x the cost of a "
          "gradient step). weight_decay is inside the step (+ wd*theta).",
    model_class=lazy("kvt.optimizers.adahessian:HessianSequential")))
register(OptimizerEntry(
    "lars", LARS,
    {"learning_rate": 1e-2, "momentum": 0.9, "trust_coefficient": 1e-3, "weight_decay": 0.0},
    "LARS, momentum SGD with a layer-wise trust ratio (You et al. 2017)",
    notes="Rank <= 1 variables (biases, BatchNorm gamma/beta) take ratio 1 "
          "(exclude_from_adaptation='1d'; set it to none to adapt every variable)."))
