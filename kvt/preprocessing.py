"""The study's preprocessing, with its state saved as JSON.

Features (level, T) are min-max scaled; the target k is multiplied by 1e18 and then
min-max scaled to [0, 1] — both with scikit-learn's ``MinMaxScaler``.
``VTScaler.to_dict`` / ``from_dict`` store the scalers' learned parameters, so a run
directory needs no pickle to predict later.
"""

from __future__ import annotations

import numpy as np
from sklearn.exceptions import NotFittedError
from sklearn.preprocessing import MinMaxScaler

from kvt.errors import KvtError

TARGET_FACTOR = 1e18
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


class VTScaler:
    """Scales (level, T) -> features and k [m^3/s] -> training target, and back.

    Learned state: ``feature_scaler_`` and ``target_scaler_`` (fitted MinMaxScalers).
    """

    def __init__(self, target_factor: float = TARGET_FACTOR):
        self.target_factor = target_factor

    def fit(self, features, k) -> "VTScaler":
        features, k = self._check_features(features), self._check_target(k)
        self.feature_scaler_ = MinMaxScaler().fit(features)
        self.target_scaler_ = MinMaxScaler().fit(k.reshape(-1, 1) * self.target_factor)
        return self

    def _check_fitted(self):
        if not hasattr(self, "target_scaler_"):
            raise NotFittedError("this VTScaler is not fitted yet; call fit(features, k) first")

    @staticmethod
    def _check_features(features) -> np.ndarray:
        features = np.asarray(features, dtype=float)
        if features.ndim != 2 or features.shape[1] != len(FEATURES):
            raise KvtError(f"features must have shape (n, {len(FEATURES)}) for {FEATURES}, got {features.shape}")
        return features

    @staticmethod
    def _check_target(k) -> np.ndarray:
        k = np.asarray(k, dtype=float)
        if k.ndim == 2 and k.shape[1] == 1:
            k = k[:, 0]
        if k.ndim != 1:
            raise KvtError(f"k must be a vector or an (n, 1) column, got shape {k.shape}")
        return k

    def transform_features(self, features) -> np.ndarray:
        self._check_fitted()
        return self.feature_scaler_.transform(self._check_features(features))

    def transform_target(self, k) -> np.ndarray:
        """k in m^3/s -> scaled target, shape (n, 1)."""
        self._check_fitted()
        return self.target_scaler_.transform(self._check_target(k).reshape(-1, 1) * self.target_factor)

    def inverse_target(self, y) -> np.ndarray:
        """Scaled target (network output) -> k in m^3/s, shape (n,)."""
        self._check_fitted()
        y = np.asarray(y, dtype=float).reshape(-1, 1)
        return self.target_scaler_.inverse_transform(y)[:, 0] / self.target_factor

    def to_dict(self) -> dict:
        self._check_fitted()
        return {
            "features": list(FEATURES),
            "target": "k_m3_s",
            "target_factor": self.target_factor,
            "feature_scaler": _scaler_to_dict(self.feature_scaler_),
            "target_scaler": _scaler_to_dict(self.target_scaler_),
        }

    @classmethod
    def from_dict(cls, state: dict) -> "VTScaler":
        try:
            scaler = cls(target_factor=float(state["target_factor"]))
            scaler.feature_scaler_ = _scaler_from_dict(state["feature_scaler"])
            scaler.target_scaler_ = _scaler_from_dict(state["target_scaler"])
        except (KeyError, TypeError, ValueError) as exc:
            raise KvtError(f"scaler parameters are malformed ({exc})") from None
        return scaler
