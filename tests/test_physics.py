import numpy as np
import pytest

from kvt import KvtError
from kvt.physics import fho

# Published FHO-FR values (the FHO-FR publications; docs/physics.md): (partner, level, T, k in m^3/s).
PUBLISHED = [
    ("O2", 1, 250, 1.99616651214212e-25), ("O2", 1, 1000, 1.22406698458853e-21),
    ("O2", 1, 10000, 3.35942593314965e-17), ("O2", 2, 250, 5.28552286797793e-25),
    ("O2", 2, 1000, 2.98964612286567e-21), ("O2", 2, 10000, 5.35691017747151e-17),
    ("O2", 35, 250, 2.75984043466818e-19), ("O2", 35, 1000, 2.6698062665806e-17),
    ("O2", 35, 10000, 1.03497970485158e-16), ("O", 1, 250, 9.70108312540885e-24),
    ("O", 1, 10000, 8.07132218698077e-17), ("O", 35, 250, 2.1223036796826e-18),
    ("O", 35, 10000, 9.37176276975104e-17),
]


@pytest.mark.parametrize("partner, level, T, published", PUBLISHED)
def test_published_values_reproduced(partner, level, T, published):
    k = fho.rate_coefficient(level, T, partner)
    assert abs(k / published - 1) <= 1e-9


def test_vectorised_call_matches_pointwise_and_broadcasts():
    levels = np.arange(1, 36)
    temps = np.array([250.0, 777.0, 5000.0, 20000.0])
    table = fho.rate_coefficient(levels[:, None], temps[None, :], "Ar")
    assert table.shape == (35, 4)
    for i, level in enumerate(levels[::7]):
        for j, T in enumerate(temps):
            assert table[i * 7, j] == pytest.approx(float(fho.rate_coefficient(level, T, "Ar")), rel=1e-13)
    assert np.all(np.isfinite(table)) and np.all(table > 0)


def test_c_root_solves_its_equation_on_the_whole_range():
    # Re-derive the quantities for a dense grid and check the residual of the C equation.
    levels, temps = np.meshgrid(np.arange(1, 36), np.geomspace(250, 20000, 60), indexing="ij")
    for name in fho.SPECIES:
        p = fho.PairParameters.for_partner(fho.SPECIES[name])
        theta = fho.level_energy_K(levels) - fho.level_energy_K(levels - 1)
        omega = theta * fho.BOLTZMANN / fho.HBAR
        theta_1 = 4 * np.pi**2 * omega**2 * p.reduced_mass_kg / (fho.POTENTIAL_RANGE_ALPHA**2 * fho.BOLTZMANN)
        v0 = np.cbrt(2 * np.pi * omega * fho.BOLTZMANN * temps / (fho.POTENTIAL_RANGE_ALPHA * p.reduced_mass_kg))
        a = p.steric_factor * theta_1 / theta
        c1, c2 = (p.nu + levels) * a, (levels * a / 2) ** 2
        b = 2 * np.pi * omega / (fho.POTENTIAL_RANGE_ALPHA * v0)
        C = fho._solve_c(c1, c2, b)
        residual = C - np.cbrt(1 - c1 * np.exp(-b / C) - c2 * np.exp(-2 * b / C))
        assert np.all((C > 0) & (C < 2))
        assert np.max(np.abs(residual)) < 1e-12


def test_level_energies_are_anharmonic():
    E = fho.level_energy_K(np.arange(0, 36))
    quanta = np.diff(E)
    assert E[0] == 0
    assert quanta[0] == pytest.approx(1.4388e-2 * (158019 - 2 * 1198))
    assert np.all(np.diff(quanta) < 0)  # levels get closer with i


def test_pair_parameters_follow_the_masses():
    o2 = fho.PairParameters.for_partner(fho.SPECIES["O2"])
    ar = fho.PairParameters.for_partner(fho.SPECIES["Ar"])
    assert o2.nu == 1 and ar.nu == 0
    assert o2.reduced_mass_kg == pytest.approx(16e-3 / 6.0221e23)
    assert o2.steric_factor == pytest.approx(2 * 0.5 / 1.5**2)  # m~ = 16*32 / (16*64)


@pytest.mark.parametrize("levels, temps, message", [
    (0, 1000, "level 0 is out of range; allowed levels are 1..35"),
    (36, 1000, "level 36 is out of range; allowed levels are 1..35"),
    (1.5, 1000, "levels must be integers 1..35"),
    (1, 0, "temperature 0 K is outside 250..20000 K, where the FHO-FR model is defined"),
    (1, -5, "temperature -5 K is outside 250..20000 K, where the FHO-FR model is defined"),
    (1, 249.9, "temperature 249.9 K is outside 250..20000 K, where the FHO-FR model is defined"),
    (1, 20001, "temperature 20001 K is outside 250..20000 K, where the FHO-FR model is defined"),
    (1, float("nan"), "temperature nan K is outside 250..20000 K, where the FHO-FR model is defined"),
])
def test_bad_arguments(levels, temps, message):
    with pytest.raises(KvtError) as info:
        fho.rate_coefficient(levels, temps, "O2")
    assert str(info.value) == message


def test_unknown_partner_and_pair():
    with pytest.raises(KvtError, match="unknown partner 'N2'; valid partners: O2, O, Ar"):
        fho.rate_coefficient(1, 1000, "N2")
    with pytest.raises(KvtError, match=r"unknown pair 'O2-N2' \(did you mean 'O2-O2'\?\); valid pairs: O2-O2, O2-O, O2-Ar"):
        fho.pair_partner("O2-N2")


def test_detailed_balance_factor_is_the_boltzmann_ratio_of_the_two_levels():
    levels, temps = np.meshgrid(np.arange(1, 36), np.geomspace(250, 20000, 25), indexing="ij")
    theta_e, theta_x = 1.4388e-2 * 158019.0, 1.4388e-2 * 1198.0
    energy = lambda n: theta_e * n - theta_x * n * (n + 1)  # noqa: E731
    expected = np.exp(-energy(levels) / temps) / np.exp(-energy(levels - 1) / temps)
    np.testing.assert_allclose(fho.detailed_balance_factor(levels, temps), expected, rtol=1e-12)


def test_generator_range_edges_give_finite_positive_rates():
    for partner in ("O2", "O", "Ar"):
        k = fho.rate_coefficient(np.arange(1, 36), np.array([[250.0], [20000.0]]), partner)
        assert np.all(np.isfinite(k)) and np.all(k > 0)


@pytest.mark.parametrize("partner", ["O2", "O", "Ar"])
def test_equation_for_c_has_one_root_in_the_valid_range(partner):
    """C = cbrt(1 - c1 e^(-b/C) - c2 e^(-2b/C)) changes sign once on a 4000-point grid of (0, 2).

    The FHO quantities are computed here from the formulas, independently of kvt.physics.fho.
    """
    kB, hbar, alpha = 1.3807e-23, 6.6261e-34 / (2 * np.pi), 4e10
    m_o2, m_c = 32e-3 / 6.0221e23, fho.SPECIES[partner].mass_kg
    mu = m_o2 * m_c / (m_o2 + m_c)
    m_tilde = (m_o2 / 2) * m_c / ((m_o2 / 2) * (m_o2 + m_c))
    steric = 2 * m_tilde / (1 + m_tilde) ** 2
    nu = 1.0 if partner == "O2" else 0.0
    i = np.arange(1, 36)[:, None, None]
    T = np.geomspace(250, 20000, 120)[None, :, None]
    C = np.linspace(0, 2, 4002)[1:-1][None, None, :]
    theta = 1.4388e-2 * (158019.0 - 2 * 1198.0 * i)
    omega = theta * kB / hbar
    theta_1 = 4 * np.pi**2 * omega**2 * mu / (alpha**2 * kB)
    v0 = np.cbrt(2 * np.pi * omega * kB * T / (alpha * mu))
    a = steric * theta_1 / theta
    b = 2 * np.pi * omega / (alpha * v0)
    f = C - np.cbrt(1 - (nu + i) * a * np.exp(-b / C) - (i * a / 2) ** 2 * np.exp(-2 * b / C))
    sign_changes = np.count_nonzero(np.diff(np.sign(f), axis=-1), axis=-1)
    assert np.all(sign_changes == 1)
