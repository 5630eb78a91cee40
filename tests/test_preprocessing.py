import json

import numpy as np
import pytest
from sklearn.exceptions import NotFittedError

from kvt import KvtError
from kvt.data.datasets import load_dataset
from kvt.network.preprocessing import VTScaler


@pytest.fixture(scope="module")
def frame():
    return load_dataset("O2-O2").frame


def test_fit_returns_self_and_scales_to_unit_interval(frame):
    scaler = VTScaler()
    assert scaler.fit(frame[["level", "T_K"]], frame["k_m3_s"]) is scaler
    y = scaler.transform_target(frame["k_m3_s"])
    x = scaler.transform_features(frame[["level", "T_K"]])
    assert y.shape == (525, 1) and y.min() == 0 and y.max() == pytest.approx(1)
    assert x.min(axis=0) == pytest.approx([0, 0]) and x.max(axis=0) == pytest.approx([1, 1])
    # The study's target: (k * 1e18 - min) / (max - min)
    k18 = frame["k_m3_s"].to_numpy() * 1e18
    np.testing.assert_allclose(y[:, 0], (k18 - k18.min()) / (k18.max() - k18.min()), rtol=1e-12, atol=1e-15)


def test_inverse_of_transform_is_identity(frame):
    scaler = VTScaler().fit(frame[["level", "T_K"]], frame["k_m3_s"])
    k = frame["k_m3_s"].to_numpy()
    np.testing.assert_allclose(scaler.inverse_target(scaler.transform_target(k)), k, rtol=1e-9)


def test_json_round_trip_gives_identical_transforms(frame):
    scaler = VTScaler().fit(frame[["level", "T_K"]], frame["k_m3_s"])
    restored = VTScaler.from_dict(json.loads(json.dumps(scaler.to_dict())))
    features = frame[["level", "T_K"]].to_numpy()
    np.testing.assert_array_equal(restored.transform_features(features), scaler.transform_features(features))
    y = np.linspace(-0.1, 1.1, 50)
    np.testing.assert_array_equal(restored.inverse_target(y), scaler.inverse_target(y))


def test_not_fitted_and_shape_errors(frame):
    with pytest.raises(NotFittedError, match="not fitted"):
        VTScaler().transform_target([1e-20])
    with pytest.raises(KvtError, match=r"features must have shape \(n, 2\)"):
        VTScaler().fit(np.ones((3, 3)), np.ones(3))
    with pytest.raises(KvtError, match="k must be a vector"):
        VTScaler().fit(np.ones((3, 2)), np.ones((3, 2)))
    with pytest.raises(KvtError, match="scaler parameters are malformed"):
        VTScaler.from_dict({"target_factor": 1e18})
