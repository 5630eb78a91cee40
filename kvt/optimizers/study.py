"""The study's own optimizers (see docs/optimizers.md): each one's hyper-parameters,
declared once (name, default, check, meaning; the defaults are the study's Table 1
values), and its registry entry.

The declarations import neither Keras nor TensorFlow (``kvt optimizers`` lists them
instantly); each optimizer class takes its ``declaration`` from here.
"""

from kvt.optimizers import _common as check
from kvt.optimizers._common import HyperParameter as H
from kvt.optimizers._common import declare
from kvt.optimizers.registry import declared, register

AdaHessian = "kvt.optimizers.adahessian:AdaHessian"
AdaMod = "kvt.optimizers.adamod:AdaMod"
Apollo = "kvt.optimizers.apollo:Apollo"
LARS = "kvt.optimizers.lars:LARS"
MADGRAD = "kvt.optimizers.madgrad:MADGRAD"
RAdam = "kvt.optimizers.radam:RAdam"

#: ``exclude_from_adaptation`` value of LARS that excludes every variable of rank <= 1.
RANK_1 = "1d"


def lars_exclusion(name, value):
    """LARS's ``exclude_from_adaptation``: "1d", None (or "none") or a list of name substrings."""
    if value is None or (isinstance(value, str) and value.lower() == "none"):
        return None
    if isinstance(value, str) and value.lower() == RANK_1:
        return RANK_1
    if isinstance(value, (list, tuple)) and value and all(isinstance(v, str) and v for v in value):
        return tuple(value)
    raise ValueError(f"{name} must be '1d', None or a list of variable-name "
                     f"substrings, got {value!r}")


def _listed(value):
    return list(value) if isinstance(value, tuple) else value


_LR = "step size lr (a float or a learning-rate schedule)"
_DECOUPLED = "Keras's decoupled decay theta <- theta - lr*wd*theta, or None (off)"
_COUPLED = "weight decay wd >= 0 inside the update rule (not Keras's decoupled decay)"

ADAMOD = declare(
    H("learning_rate", 1e-3, check.rate, _LR),
    H("beta_1", 0.9, check.fraction, "decay of the gradient average m, in [0, 1)"),
    H("beta_2", 0.999, check.fraction, "decay of the squared-gradient average v, in [0, 1)"),
    H("beta_3", 0.995, check.fraction, "decay of the step-size average s, in [0, 1)"),
    H("epsilon", 1e-8, check.positive, "eps > 0 added to sqrt(v)"),
    H("weight_decay", None, check.decoupled_decay, _DECOUPLED),
    study=("learning_rate", "beta_1", "beta_2", "beta_3", "epsilon"))

MADGRAD_HP = declare(
    H("learning_rate", 1e-2, check.rate, _LR),
    H("momentum", 0.9, check.fraction, "momentum in [0, 1); 0 gives pure dual averaging"),
    H("epsilon", 1e-6, check.positive, "eps > 0 in the step weight and the denominator"),
    H("weight_decay", None, check.decoupled_decay, _DECOUPLED),
    study=("learning_rate", "momentum", "epsilon"))

RADAM = declare(
    H("learning_rate", 1e-3, check.rate, _LR),
    H("beta_1", 0.9, check.fraction, "decay of the gradient average m, in [0, 1)"),
    H("beta_2", 0.999, check.fraction, "decay of the squared-gradient average v, in [0, 1)"),
    H("epsilon", 1e-8, check.positive, "eps > 0 added to sqrt(v)"),
    H("weight_decay", None, check.decoupled_decay, _DECOUPLED),
    study=("learning_rate", "beta_1", "beta_2", "epsilon"))

APOLLO = declare(
    H("learning_rate", 1e-2, check.rate, "step size lr after warm-up (a float or a schedule)"),
    H("beta", 0.9, check.fraction, "decay of the gradient average m, in [0, 1)"),
    H("epsilon", 1e-4, check.positive, "eps > 0 added to the 4-norm of the step direction"),
    H("weight_decay", 1e-3, check.coupled_decay, "L2 coefficient wd >= 0 added to the gradient (g + wd*theta)"),
    H("warmup", 100, check.non_negative_int, "linear warm-up steps from init_lr to lr (0 = none)"),
    H("init_lr", 1e-2, check.non_negative, "learning rate at the first warm-up step, >= 0"),
    study=("learning_rate", "beta", "weight_decay", "epsilon", "warmup", "init_lr"))

ADAHESSIAN = declare(
    H("learning_rate", 1e-2, check.rate, _LR),
    H("beta_1", 0.9, check.fraction, "decay of the gradient average m, in [0, 1)"),
    H("beta_2", 0.999, check.fraction, "decay of the average of the squared Hessian diagonal, in [0, 1)"),
    H("epsilon", 1e-4, check.positive, "eps > 0 added to the denominator"),
    H("weight_decay", 1e-3, check.coupled_decay, _COUPLED),
    H("hessian_power", 1.0, check.unit_interval, "power k in [0, 1] of the Hessian denominator"),
    study=("learning_rate", "beta_1", "beta_2", "weight_decay", "epsilon", "hessian_power"))

LARS_HP = declare(
    H("learning_rate", 1e-2, check.rate, _LR),
    H("momentum", 0.9, check.fraction, "heavy-ball momentum in [0, 1)"),
    H("trust_coefficient", 1e-3, check.positive, "trust coefficient eta > 0 of the layer-wise ratio"),
    H("weight_decay", 0.0, check.coupled_decay, _COUPLED),
    H("exclude_from_adaptation", RANK_1, lars_exclusion,
      "variables taking ratio 1: '1d' (rank <= 1), none, or name substrings", to_config=_listed),
    study=("learning_rate", "momentum", "trust_coefficient", "weight_decay"))

register(declared(
    "adamod", AdaMod, ADAMOD,
    "AdaMod, Adam with step sizes capped by their running mean (Ding et al. 2019)"))
register(declared(
    "madgrad", MADGRAD, MADGRAD_HP,
    "MADGRAD, momentumised dual averaging with a cube-root denominator (Defazio & Jelassi 2021)",
    notes="theta_0 (the anchor of the dual average) is the value when the optimizer is built, "
          "just before the first step."))
register(declared(
    "radam", RAdam, RADAM,
    "RAdam, Adam with a rectified adaptive learning rate (Liu et al. 2019)",
    notes="Takes un-adapted momentum steps lr*m_hat while rho_t < 5 (the first ~5 steps "
          "with beta_2 = 0.999)."))
register(declared(
    "apollo", Apollo, APOLLO,
    "Apollo, diagonal quasi-Newton with rectified curvature (Ma 2020)",
    notes="weight_decay is L2 added to the gradient (g + wd*theta); warm-up goes linearly "
          "from init_lr to learning_rate over `warmup` steps (a no-op with the study's "
          "init_lr = learning_rate = 1e-2)."))
register(declared(
    "adahessian", AdaHessian, ADAHESSIAN,
    "AdaHessian, Adam with a Hutchinson Hessian-diagonal second moment (Yao et al. 2020)",
    notes="Needs Hessian-vector products: AdaHessian.train_step (called by the network's "
          "train_step) draws fresh Rademacher vectors every step (about 2-3x the cost of a "
          "gradient step). weight_decay is inside the step (+ wd*theta)."))
register(declared(
    "lars", LARS, LARS_HP,
    "LARS, momentum SGD with a layer-wise trust ratio (You et al. 2017)",
    notes="Rank <= 1 variables (biases, BatchNorm gamma/beta) take ratio 1 "
          "(exclude_from_adaptation='1d'; set it to none to adapt every variable)."))
