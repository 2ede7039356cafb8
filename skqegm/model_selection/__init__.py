"""Model selection over time: walk-forward backtests of VaR and ES forecasts.

- :func:`walk_forward`: refit a clone every ``refit_every`` rows on an expanding or
  rolling window and forecast the next rows, for any estimator with ``predict_var`` /
  ``predict_es``, or a search over one (its choice at each refit is kept); returns a
  :class:`WalkForwardResult`.
"""

from .backtesting import WalkForwardResult, walk_forward

__all__ = ["WalkForwardResult", "walk_forward"]
