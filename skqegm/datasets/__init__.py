"""The paper's data: the synthetic tail mixture with its exact law, and S&P 500 returns."""

from skqegm.datasets.finance import load_sp500_dates, load_sp500_returns
from skqegm.datasets.mixture import make_tail_mixture, tail_mixture_cdf, tail_mixture_logpdf

__all__ = [
    "load_sp500_dates",
    "load_sp500_returns",
    "make_tail_mixture",
    "tail_mixture_cdf",
    "tail_mixture_logpdf",
]
