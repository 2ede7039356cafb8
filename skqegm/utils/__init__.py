"""Shared helpers: parameter validation and estimator checks."""
