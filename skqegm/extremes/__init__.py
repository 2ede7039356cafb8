"""Extreme-value outputs of any fitted sampler of one series: return levels and periods.

- :func:`return_level`: the level exceeded on average once every ``T`` years, and
  :func:`return_period`, its inverse, each with a confidence interval: the delta method
  for a generalized Pareto tail model (:class:`~skqegm.baselines.GPDTailSampler`, known by
  its fitted attributes, not its class), a percentile bootstrap of refits for any other
  sampler;
- :class:`ReturnLevelResult` and :class:`ReturnPeriodResult`, the named tuples they return.

The return level plot is :func:`skqegm.plotting.plot_return_levels`.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "return_levels": ["ReturnLevelResult", "ReturnPeriodResult", "return_level", "return_period"],
})

__all__ = ["ReturnLevelResult", "ReturnPeriodResult", "return_level", "return_period"]
