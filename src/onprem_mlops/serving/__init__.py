"""Serving the registry's champion model (target side: stdlib and the MLflow client only)."""
