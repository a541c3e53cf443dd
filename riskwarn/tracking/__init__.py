"""Tracking room: MLflow runs, the model registry, and the model as an MLflow pyfunc.

The only room that imports ``mlflow``.
"""
