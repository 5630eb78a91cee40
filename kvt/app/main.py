"""The script Streamlit runs for ``kvt app`` (``streamlit run kvt/app/main.py``): the page choice, then the page."""

import streamlit as st

from kvt.app import ui
from kvt.app.views import compare, data, results, train, use

PAGES = {"Data": data.render, "Train": train.render, "Results": results.render,
         "Compare optimizers": compare.render, "Use": use.render}

st.set_page_config(page_title="kvt", layout="wide")
ui.navigation(PAGES)
