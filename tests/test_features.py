"""Accurate mode's fho features and its weighted baseline, against independent computations."""

import json

import numpy as np
import pytest
from conftest import fho_reference_features

from kvt import KvtError
from kvt.physics import fho
from kvt.data.datasets import load_dataset
from kvt.network.features import FEATURE_SETS, fho_parameters, raw_features
from kvt.network.preprocessing import LogSpaceTransform, transform_from_dict

LEVELS, TEMPS = (a.ravel() for a in np.meshgrid(np.arange(1, 36), [250.0, 310.0, 1000.0, 4321.0, 10000.0],
                                                indexing="ij"))


@pytest.mark.parametrize("pair", ["O2-O2", "O2-O", "O2-Ar"])
def test_fho_features_equal_an_independent_computation_from_physics(pair):
    features = raw_features("fho", LEVELS, TEMPS, fho_parameters(pair))
    assert features.shape == (LEVELS.size, len(FEATURE_SETS["fho"])) == (175, 11)
    np.testing.assert_allclose(features, fho_reference_features(LEVELS, TEMPS, pair), rtol=1e-12, atol=0)


def test_eps_is_one_minus_c_cubed_to_first_order():
    """Where C is close to 1, eps (C's equation at C = 1) is 1 - C^3 of the physics module's C solve."""
    parameters = fho_parameters("O2-Ar")
    eps = raw_features("fho", LEVELS, TEMPS, parameters)[:, 9]
    p = fho.PairParameters.for_partner(fho.SPECIES["Ar"])
    theta = np.asarray(parameters["theta_K"])[LEVELS - 1]
    theta_1 = np.asarray(parameters["theta1_K"])[LEVELS - 1]
    a = p.steric_factor * theta_1 / theta
    C = fho._solve_c((p.nu + LEVELS) * a, (LEVELS * a / 2) ** 2, np.cbrt(theta_1 / TEMPS))
    small = eps < 1e-5  # C within 4e-6 of 1
    assert small.sum() > 30
    np.testing.assert_allclose(eps[small], 1 - C[small] ** 3, rtol=1e-3)
    assert np.all(eps > 0)


def test_fho_parameters_are_the_physics_level_spacings():
    parameters = fho_parameters("O2-O")
    levels = np.arange(1, 36)
    np.testing.assert_allclose(parameters["theta_K"],
                               fho.level_energy_K(levels) - fho.level_energy_K(levels - 1), rtol=1e-15)
    # theta_1 = 4 pi^2 omega^2 mu / (alpha^2 k) is proportional to theta^2, and to mu (O2-O: 32*16/48 amu)
    ratio = np.asarray(parameters["theta1_K"]) / np.asarray(parameters["theta_K"]) ** 2
    mu = 32.0 * 16.0 / 48.0 * 1e-3 / fho.AVOGADRO
    expected = 4 * np.pi**2 * (fho.BOLTZMANN / fho.HBAR) ** 2 * mu / (fho.POTENTIAL_RANGE_ALPHA**2
                                                                              * fho.BOLTZMANN)
    np.testing.assert_allclose(ratio, expected, rtol=1e-12)
    assert parameters["nu"] == 0.0 and fho_parameters("O2-O2")["nu"] == 1.0
    with pytest.raises(KvtError, match=r"whole levels 1\.\.35"):
        raw_features("fho", [0], [1000.0], parameters)


@pytest.fixture(scope="module")
def o2_ar():
    frame = load_dataset("O2-Ar").frame
    return frame[["level", "T_K"]].to_numpy(float), frame["k_m3_s"].to_numpy()


def test_fho_baseline_is_the_weighted_least_squares_fit(o2_ar):
    features, k = o2_ar
    transform = LogSpaceTransform.for_process("O2-Ar").fit(features, k)
    assert transform.feature_kind == "fho"
    x = transform.scaled_features(features)
    # independent: weighted least squares by numpy, rows weighted by (1000 K / T)^3
    design = np.column_stack([x, np.ones(len(x))])
    root_w = np.sqrt((1000.0 / features[:, 1]) ** 3)
    solution, *_ = np.linalg.lstsq(design * root_w[:, None], np.log(k) * root_w, rcond=None)
    np.testing.assert_allclose(transform.baseline_.predict(x), design @ solution, rtol=1e-9)
    # the FHO features leave a far smaller residual than the five log-space features
    plain = LogSpaceTransform().fit(features, k)
    assert transform.target_scaler_.scale_[0] < 0.1 < plain.target_scaler_.scale_[0]


def test_fho_transform_json_round_trip(o2_ar):
    features, k = o2_ar
    transform = LogSpaceTransform.for_process("O2-Ar").fit(features, k)
    restored = transform_from_dict(json.loads(json.dumps(transform.to_dict())))
    assert restored.feature_kind == "fho" and restored.parameters == fho_parameters("O2-Ar")
    y = np.linspace(-2, 2, len(k))
    np.testing.assert_array_equal(restored.inverse_target(y, features), transform.inverse_target(y, features))


def test_user_data_without_a_pair_keeps_the_log_space_features(o2_ar):
    features, k = o2_ar
    transform = LogSpaceTransform.for_process(None).fit(features, k)
    assert transform.feature_kind == "log_space" and "feature_kind" not in transform.to_dict()
    with pytest.raises(KvtError, match="the fho features need their parameters"):
        LogSpaceTransform("fho")
