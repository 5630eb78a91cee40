"""Physics: the FHO-FR model of VT rates and the species it is evaluated for."""
