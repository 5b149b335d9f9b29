"""Exporting a finished run folder into the tools teams keep results in (MLflow: ``zoo export mlflow``)."""
