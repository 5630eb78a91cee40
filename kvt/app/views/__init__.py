"""The app's pages, one module each, each with ``render()``: :mod:`~kvt.app.views.data`,
:mod:`~kvt.app.views.train`, :mod:`~kvt.app.views.results`, :mod:`~kvt.app.views.compare` and
:mod:`~kvt.app.views.use`."""
