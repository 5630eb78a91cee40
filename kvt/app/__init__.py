"""``kvt app``: a Streamlit interface to what kvt's commands do, through the same library calls.

Five pages (:mod:`kvt.app.views`, not ``pages/``, which Streamlit would list by itself): Data (a bundled pair or an uploaded table), Train (every
optimizer, its hyper-parameters as widgets made from their declarations, training in the
background), Results (a run's summary, figures and checks; runs side by side), Compare
optimizers (``kvt bench vt``'s machinery) and Use (predictions and every ``kvt export`` format).
Nothing is computed a second way: the pages call the functions the commands call, write what the
commands write (run folders, benchmark folders) under the ``--force`` rules of
:mod:`kvt.files.atomic`, and show a failure as the one ``Error:`` line the command would print.

Modules: :mod:`~kvt.app.launch` (``kvt app``: checks, then ``streamlit run``; no Streamlit import),
:mod:`~kvt.app.main` (the script Streamlit runs), :mod:`~kvt.app.fields` (hyper-parameter widgets from
the optimizers' declarations, without Streamlit), :mod:`~kvt.app.jobs` (training and benchmarks in a
worker process, with progress and a stop flag), :mod:`~kvt.app.ui` (what the pages share).
Streamlit is an optional dependency: ``pip install 'kvt[app]'``.
"""
