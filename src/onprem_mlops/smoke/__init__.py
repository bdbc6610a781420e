"""Smoke training job: a small, deterministic PyTorch training run logged to MLflow.

Two templates: ``predictive-maintenance`` (sensor windows -> failure within N days, ROC-AUC bar)
and ``stock-forecasting`` (daily sales per store and item, WAPE bar against seasonal-naive).
NumPy, PyTorch and MLflow are imported lazily: install them with
``pip install 'onprem-mlops[train]'``.
"""
