"""Feature and target transforms, with their state saved as JSON.

Two transforms share one interface (``fit``, ``transform_features``,
``transform_target``, ``inverse_target``, ``to_dict`` / ``from_dict``); both take
the raw features as an (n, 2) array of (level, T in K):

* :class:`VTScaler`, the study's: features (level, T) min-max scaled; target k
  multiplied by 1e18 and min-max scaled to [0, 1] (scikit-learn ``MinMaxScaler``).
* :class:`LogSpaceTransform`, accurate mode's: physically motivated features
  (i, ln i, T^(-1/3), ln T, 1000/T, and for a bundled pair six FHO-FR features,
  :mod:`kvt.network.features`) min-max scaled; the network sees the first four, and the
  target is ln k minus a least-squares linear baseline in all of them, standardised.

The learned parameters go to ``scaler.json``, so a run directory needs no pickle.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import MinMaxScaler

from kvt.errors import KvtError
from kvt.network.features import FEATURE_SETS, INPUTS, LOG_SPACE_NAMES, raw_features

TARGET_FACTOR = 1e18
#: The raw inputs of a VT network: the upper level and the temperature (a VT process's ``features``).
FEATURES = ("level", "T_K")


def _scaler_to_dict(scaler: MinMaxScaler) -> dict:
    return {
        "feature_range": list(scaler.feature_range),
        "data_min": scaler.data_min_.tolist(),
        "data_max": scaler.data_max_.tolist(),
    }


def _scaler_from_dict(state: dict) -> MinMaxScaler:
    scaler = MinMaxScaler(feature_range=tuple(state["feature_range"]))
    data_min = np.asarray(state["data_min"], dtype=float)
    data_max = np.asarray(state["data_max"], dtype=float)
    # Fitting on the two extreme rows reproduces every learned attribute exactly.
    return scaler.fit(np.vstack([data_min, data_max]))


def require_fitted(transform) -> None:
    """NotFittedError unless ``fit`` has run (both transforms set ``target_scaler_`` last)."""
    if not hasattr(transform, "target_scaler_"):
        raise NotFittedError(f"this {type(transform).__name__} is not fitted yet; call fit(features, k) first")


def check_raw_features(features, names: tuple[str, ...] = FEATURES) -> np.ndarray:
    """(n, m) raw inputs ``names`` (the level inputs, then T_K; a VT network's (level, T_K) by default)."""
    features = np.asarray(features, dtype=float)
    if features.ndim != 2 or features.shape[1] != len(names):
        raise KvtError(f"features must have shape (n, {len(names)}) for {tuple(names)}, got {features.shape}")
    return features


def check_target(k) -> np.ndarray:
    k = np.asarray(k, dtype=float)
    if k.ndim == 2 and k.shape[1] == 1:
        k = k[:, 0]
    if k.ndim != 1:
        raise KvtError(f"k must be a vector or an (n, 1) column, got shape {k.shape}")
    return k


class VTScaler:
    """Scales (level, T) -> features and k [m^3/s] -> training target, and back.

    Learned state: ``feature_scaler_`` and ``target_scaler_`` (fitted MinMaxScalers).
    """

    kind = "study"

    def __init__(self, target_factor: float = TARGET_FACTOR, features: tuple[str, ...] = FEATURES):
        self.target_factor = target_factor
        self.features = tuple(features)  # the raw inputs: a process's ``features`` (level inputs, then T_K)

    @classmethod
    def for_process(cls, process) -> "VTScaler":
        """The study's scaler of ``process``'s inputs (VT: level, T_K; VV: level_a, level_b, T_K); VT's for None."""
        return cls(features=process.features if process is not None else FEATURES)

    @property
    def feature_kind(self) -> str:
        """The weights document's features.kind: level_T, or levels_T for two level inputs."""
        return "level_T" if self.features == FEATURES else "levels_T"

    def fit(self, features, k) -> "VTScaler":
        features, k = check_raw_features(features, self.features), check_target(k)
        self.feature_scaler_ = MinMaxScaler().fit(features)
        self.target_scaler_ = MinMaxScaler().fit(k.reshape(-1, 1) * self.target_factor)
        return self

    def transform_features(self, features) -> np.ndarray:
        require_fitted(self)
        return self.feature_scaler_.transform(check_raw_features(features, self.features))

    def transform_target(self, k, features=None) -> np.ndarray:
        """k in m^3/s -> scaled target, shape (n, 1). ``features`` is unused."""
        require_fitted(self)
        return self.target_scaler_.transform(check_target(k).reshape(-1, 1) * self.target_factor)

    def inverse_target(self, y, features=None) -> np.ndarray:
        """Scaled target (network output) -> k in m^3/s, shape (n,). ``features`` is unused."""
        require_fitted(self)
        y = np.asarray(y, dtype=float).reshape(-1, 1)
        return self.target_scaler_.inverse_transform(y)[:, 0] / self.target_factor

    def to_dict(self) -> dict:
        require_fitted(self)
        return {
            "kind": self.kind,
            "features": list(self.features),
            "target": "k_m3_s",
            "target_factor": self.target_factor,
            "feature_scaler": _scaler_to_dict(self.feature_scaler_),
            "target_scaler": _scaler_to_dict(self.target_scaler_),
        }

    @classmethod
    def from_dict(cls, state: dict) -> "VTScaler":
        if state.get("kind", "study") != cls.kind:
            return transform_from_dict(state)
        try:
            scaler = cls(target_factor=float(state["target_factor"]), features=tuple(state.get("features", FEATURES)))
            scaler.feature_scaler_ = _scaler_from_dict(state["feature_scaler"])
            scaler.target_scaler_ = _scaler_from_dict(state["target_scaler"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KvtError(f"scaler parameters are malformed ({exc})") from None
        return scaler


def log_space_features(features, kind: str = "log_space", parameters: dict | None = None) -> np.ndarray:
    """(level i, T) -> accurate mode's raw features of ``kind`` (kvt.network.features.FEATURE_SETS).

    ``log_space``: (i, ln i, T^(-1/3), ln T, 1000/T). Why these: the FHO/Landau-Teller
    rate behaves as ln k ~ -c T^(-1/3) + ln-T terms (collision frequency,
    (theta_1/T)^(1/6)) + theta_i/(2T) (the detailed-balance factor exp(theta/2T)), and
    k grows about as i times slowly varying factors. ``fho`` adds the FHO-FR quantities
    that need no solve for C (see :mod:`kvt.network.features`).
    """
    raw = check_raw_features(features, INPUTS[kind])
    return raw_features(kind, raw[:, :-1], raw[:, -1], parameters)


LOG_SPACE_FEATURES = LOG_SPACE_NAMES
#: Columns of the scaled features the network sees. 1000/T stays in the linear
#: baseline only: min-max scaled, half its range lies between the 250 K and 500 K
#: rows of the bundled grid, where a network input would be unconstrained by data
#: (measured: max dense-grid error about halves without it). The same holds for the
#: FHO features of the ``fho`` kind, which also enter the baseline only.
LOG_SPACE_NETWORK_INPUTS = (0, 1, 2, 3)
#: Baseline row weights of the ``fho`` kind: (BASELINE_WEIGHT_T_K / T)^BASELINE_WEIGHT_POWER.
#: The FHO features describe ln k almost exactly where C ~ 1 (low T), which is also where
#: the bundled rows are sparsest (250, 500 K); weighting the least squares towards low T
#: keeps the baseline exact there, and the network absorbs the C dependence at high T,
#: where rows are dense (measured: max dense-grid error 1-4 % unweighted, 0.3-0.6 % weighted).
BASELINE_WEIGHT_T_K = 1000.0
BASELINE_WEIGHT_POWER = 3.0
ACCURATE_FEATURE_KINDS = ("log_space", "fho", "exchange")
#: The scaled features the network reads, per kind (the others enter the baseline only). ``exchange``: level_a,
#: level_b, ln T; its FHO VV terms make ln k linear, so they belong to the baseline.
NETWORK_INPUTS = {"log_space": LOG_SPACE_NETWORK_INPUTS, "fho": LOG_SPACE_NETWORK_INPUTS, "exchange": (0, 1, 2)}
#: Kinds whose baseline rows are weighted by (BASELINE_WEIGHT_T_K / T)^BASELINE_WEIGHT_POWER.
WEIGHTED_BASELINE_KINDS = ("fho",)


class LogSpaceTransform:
    """Accurate mode's transform: log-space target over a linear baseline.

    ``feature_kind``: ``log_space`` (the five features i, ln i, T^(-1/3), ln T, 1000/T) or
    ``fho`` (those and six FHO-FR features, needs ``parameters`` from
    :func:`kvt.network.features.fho_parameters`); see :mod:`kvt.network.features`.
    ``scaled_features``: the raw features, min-max scaled to [0, 1];
    ``transform_features``: the network's inputs, columns LOG_SPACE_NETWORK_INPUTS of those.
    ``transform_target``: y = (ln k - b(x) - mean) / std, where b is a least-squares
    linear fit of ln k on all scaled features (``baseline_``, scikit-learn
    ``LinearRegression``; rows weighted by (1000 K / T)^3 for ``fho``, unweighted for
    ``log_space``) and mean/std standardise the residual (``target_scaler_``).
    ``inverse_target(y, features)``: k = exp(y * std + mean + b(x)).

    Learned state: ``feature_scaler_``, ``baseline_``, ``target_scaler_``.
    """

    kind = "accurate"

    def __init__(self, feature_kind: str = "log_space", parameters: dict | None = None):
        if feature_kind not in ACCURATE_FEATURE_KINDS:
            raise KvtError(f"unknown accurate-mode feature kind {feature_kind!r}; "
                           f"expected one of {', '.join(ACCURATE_FEATURE_KINDS)}")
        from kvt.network.features import PARAMETER_FUNCTIONS

        if feature_kind in PARAMETER_FUNCTIONS and not parameters:
            raise KvtError(f"the {feature_kind} features need their parameters "
                           f"(kvt.network.features.{PARAMETER_FUNCTIONS[feature_kind].__name__}(process))")
        self.feature_kind = feature_kind
        self.parameters = parameters if feature_kind in PARAMETER_FUNCTIONS else None

    @classmethod
    def for_process(cls, process) -> "LogSpaceTransform":
        """The accurate features of a known process (its ``feature_kinds["accurate"]``: ``fho`` for VT, ``exchange``
        for VV and VV'), with their parameters; ``log_space`` when it is unknown (a user CSV)."""
        if process is None:
            return cls()
        from kvt.network.features import PARAMETER_FUNCTIONS
        from kvt.physics.process import resolve

        process = resolve(process)  # a pair's name (VT) is taken too
        kind = process.feature_kinds["accurate"]
        return cls(kind, PARAMETER_FUNCTIONS[kind](process))

    @property
    def feature_names(self) -> tuple[str, ...]:
        return FEATURE_SETS[self.feature_kind]

    @property
    def network_inputs(self) -> tuple[int, ...]:
        return NETWORK_INPUTS[self.feature_kind]

    @property
    def baseline_weight_power(self) -> float:
        return BASELINE_WEIGHT_POWER if self.feature_kind in WEIGHTED_BASELINE_KINDS else 0.0

    def _raw(self, features) -> np.ndarray:
        return log_space_features(features, self.feature_kind, self.parameters)

    def fit(self, features, k) -> "LogSpaceTransform":
        from sklearn.linear_model import LinearRegression
        from sklearn.preprocessing import StandardScaler

        k = check_target(k)
        if np.any(k <= 0):
            raise KvtError("log-space targets need k > 0")
        self.feature_scaler_ = MinMaxScaler()
        x = self.feature_scaler_.fit_transform(self._raw(features))
        ln_k = np.log(k)
        weights = None
        if self.baseline_weight_power:
            weights = (BASELINE_WEIGHT_T_K / np.asarray(features, dtype=float)[:, -1]) ** self.baseline_weight_power
        self.baseline_ = LinearRegression().fit(x, ln_k, sample_weight=weights)
        self.target_scaler_ = StandardScaler().fit((ln_k - self.baseline_.predict(x)).reshape(-1, 1))
        return self

    def scaled_features(self, features) -> np.ndarray:
        require_fitted(self)
        return self.feature_scaler_.transform(self._raw(features))

    def transform_features(self, features) -> np.ndarray:
        return self.scaled_features(features)[:, list(self.network_inputs)]

    def transform_target(self, k, features=None) -> np.ndarray:
        require_fitted(self)
        if features is None:
            raise KvtError("the log-space target depends on the features: pass features=")
        x = self.scaled_features(features)
        residual = np.log(check_target(k)) - self.baseline_.predict(x)
        return self.target_scaler_.transform(residual.reshape(-1, 1))

    def inverse_target(self, y, features=None) -> np.ndarray:
        require_fitted(self)
        if features is None:
            raise KvtError("the log-space target depends on the features: pass features=")
        x = self.scaled_features(features)
        y = np.asarray(y, dtype=float).reshape(-1, 1)
        return np.exp(self.target_scaler_.inverse_transform(y)[:, 0] + self.baseline_.predict(x))

    def to_dict(self) -> dict:
        require_fitted(self)
        state = {
            "kind": self.kind,
            "features": list(self.feature_names),
            "network_inputs": list(self.network_inputs),
            "target": "ln(k_m3_s) - baseline",
            "feature_scaler": _scaler_to_dict(self.feature_scaler_),
            "baseline": {"coef": self.baseline_.coef_.tolist(), "intercept": float(self.baseline_.intercept_)},
            "target_scaler": {"mean": float(self.target_scaler_.mean_[0]),
                              "scale": float(self.target_scaler_.scale_[0])},
        }
        if self.feature_kind != "log_space":  # scaler.json of log_space runs stays as before
            state["feature_kind"] = self.feature_kind
            state["feature_parameters"] = self.parameters
            state["baseline"]["row_weights"] = (f"(T_ref / T)^p, T_ref = {BASELINE_WEIGHT_T_K:g} K, "
                                                f"p = {self.baseline_weight_power:g}")
        return state

    @classmethod
    def from_dict(cls, state: dict) -> "LogSpaceTransform":
        from sklearn.linear_model import LinearRegression
        from sklearn.preprocessing import StandardScaler

        try:
            transform = cls(state.get("feature_kind", "log_space"), state.get("feature_parameters"))
            transform.feature_scaler_ = _scaler_from_dict(state["feature_scaler"])
            coef = np.asarray(state["baseline"]["coef"], dtype=float)
            baseline = LinearRegression()
            baseline.coef_, baseline.intercept_ = coef, float(state["baseline"]["intercept"])
            baseline.n_features_in_ = len(coef)
            transform.baseline_ = baseline
            target = StandardScaler()
            target.mean_ = np.array([float(state["target_scaler"]["mean"])])
            target.scale_ = np.array([float(state["target_scaler"]["scale"])])
            target.var_ = target.scale_**2
            target.n_features_in_ = 1
            transform.target_scaler_ = target
        except (KeyError, TypeError, ValueError) as exc:
            raise KvtError(f"scaler parameters are malformed ({exc})") from None
        return transform


TRANSFORMS = {"study": VTScaler, "accurate": LogSpaceTransform}


def transform_from_dict(state: dict):
    """Rebuild whichever transform ``state`` (from ``to_dict``) describes."""
    kind = state.get("kind", "study") if isinstance(state, dict) else None
    if kind not in TRANSFORMS:
        raise KvtError(f"scaler parameters are malformed (unknown kind {kind!r})")
    cls = TRANSFORMS[kind]
    if cls is VTScaler:
        return VTScaler.from_dict({**state, "kind": "study"})
    return cls.from_dict(state)
