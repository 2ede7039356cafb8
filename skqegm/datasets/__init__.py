"""The paper's data: the synthetic tail mixture with its exact law, and real data for its
three domains, shipped with skqegm so that nothing is downloaded.

- synthetic: :func:`make_tail_mixture` with its exact density, CDF and survival
  function;
- finance: S&P 500 daily log returns, 1999-2018 (:func:`load_sp500_returns`);
- climate: daily rainfall in south-west England, 1914-1962 (:func:`load_daily_rainfall`);
- intrusion: KDD Cup 1999 connections with 1.5% attacks (:func:`load_intrusion`), a
  subsample that :func:`make_intrusion_subsample` rebuilds from the full file;
- your own: a price or return series from a CSV file (:func:`load_csv_series`).
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "climate": ["load_daily_rainfall"],
    "csv_series": ["load_csv_series"],
    "finance": ["load_sp500_dates", "load_sp500_returns"],
    "intrusion": ["load_intrusion", "make_intrusion_subsample"],
    "mixture": ["make_tail_mixture", "tail_mixture_cdf", "tail_mixture_logpdf",
                "tail_mixture_sf"],
})

__all__ = [
    "load_csv_series",
    "load_daily_rainfall",
    "load_intrusion",
    "load_sp500_dates",
    "load_sp500_returns",
    "make_intrusion_subsample",
    "make_tail_mixture",
    "tail_mixture_cdf",
    "tail_mixture_logpdf",
    "tail_mixture_sf",
]
