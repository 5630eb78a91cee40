"""Training: the fit of one configuration, its callbacks, and distribution as one injected piece."""
