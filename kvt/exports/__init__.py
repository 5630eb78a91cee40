"""What leaves kvt for other codes: tables, the network's weights, C / Fortran / FHO-poly code, Cantera mechanisms.

:mod:`kvt.exports.registry` declares every format of ``kvt export`` once.
"""

#: Spacing (K) of the temperature grid on which solver code is checked for k > 0 and the FHO-poly form is fitted.
CHECK_STEP_K = 5.0
