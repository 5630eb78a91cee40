"""Physical constants (SI) of the FHO-FR model, at the values that reproduce the published tables."""

BOLTZMANN = 1.3807e-23  # J/K
PLANCK = 6.6261e-34  # J s
AVOGADRO = 6.0221e23  # 1/mol
SECOND_RADIATION_CONSTANT = 1.4388e-2  # m K (c2 = hc/k)

# Pair parameters shared by every molecule and partner.
POTENTIAL_RANGE_ALPHA = 4e10  # m^-1, range of the repulsive exponential potential
WELL_DEPTH_K = 200.0  # K, depth D / k of the attractive well
