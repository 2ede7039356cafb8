"""Tail metrics, greater-is-better scorers for model selection, and VaR backtests.

- :func:`tail_kl_divergence`: the paper's KL divergence restricted to the tail region;
- :func:`rare_event_recall`, :func:`rare_event_precision`: 1 marks the rare class;
- :func:`interval_coverage`, :func:`coverage_error`: calibration of prediction intervals;
- scorers ``scorer(estimator, X, y=None, *, sample_weight=None)`` and the
  :data:`SCORERS` dict for ``GridSearchCV`` (weights routed as scikit-learn's scorers
  route them; a fitted search is scored by its ``best_estimator_``);
- :func:`var_exceedances`, :func:`kupiec_pof_test`,
  :func:`christoffersen_independence_test`, :func:`christoffersen_conditional_coverage_test`;
- VaR and ES forecasts: :func:`fz0_loss`, :func:`var_pinball_loss`, their scorers
  (:data:`RISK_SCORERS`), :func:`acerbi_szekely_test` and :func:`diebold_mariano_test`.

Every series a metric takes may be 1-D or, as in scikit-learn's metrics, a single column
of shape ``(n_samples, 1)``; several columns are refused, naming the argument.
A forecast beside ``y`` (``var``, ``es``) is one value per observation or a number (a
constant forecast); a one-element array beside a longer ``y`` is refused.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "backtests": [
        "BacktestResult", "christoffersen_conditional_coverage_test",
        "christoffersen_independence_test", "kupiec_pof_test", "var_exceedances",
    ],
    "es_backtests": ["AcerbiSzekelyResult", "acerbi_szekely_test"],
    "forecast_comparison": ["DieboldMarianoResult", "diebold_mariano_test"],
    "intervals": ["coverage_error", "interval_coverage"],
    "rare_events": ["rare_event_precision", "rare_event_recall"],
    "scorers": [
        "SCORERS", "make_coverage_scorer", "make_rare_event_precision_scorer",
        "make_rare_event_recall_scorer", "make_tail_kl_scorer", "neg_tail_kl_scorer",
        "rare_event_recall_scorer",
    ],
    "risk_scorers": [
        "RISK_SCORERS", "make_fz0_scorer", "make_pinball_scorer", "neg_fz0_loss_scorer",
        "neg_pinball_loss_scorer",
    ],
    "scoring_rules": ["fz0_loss", "var_pinball_loss"],
    "tail": ["tail_kl_divergence"],
})

__all__ = [
    "RISK_SCORERS",
    "SCORERS",
    "AcerbiSzekelyResult",
    "BacktestResult",
    "DieboldMarianoResult",
    "acerbi_szekely_test",
    "christoffersen_conditional_coverage_test",
    "christoffersen_independence_test",
    "coverage_error",
    "diebold_mariano_test",
    "fz0_loss",
    "interval_coverage",
    "kupiec_pof_test",
    "make_coverage_scorer",
    "make_fz0_scorer",
    "make_pinball_scorer",
    "make_rare_event_precision_scorer",
    "make_rare_event_recall_scorer",
    "make_tail_kl_scorer",
    "neg_fz0_loss_scorer",
    "neg_pinball_loss_scorer",
    "neg_tail_kl_scorer",
    "rare_event_precision",
    "rare_event_recall",
    "rare_event_recall_scorer",
    "tail_kl_divergence",
    "var_exceedances",
    "var_pinball_loss",
]
