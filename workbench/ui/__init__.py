"""The dashboards' widgets: pages that own their widgets and expose a model, built from the
services of ``workbench.open()``. Voilà shows them (``dashboards/``); analysts use the same in
JupyterLab: ``from workbench.ui import App; App(wb).widget``."""

from .app import App

__all__ = ["App"]
