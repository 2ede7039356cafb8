"""Classical baselines with the sampler API of :class:`~skqegm.QEGMSampler`.

Each has ``fit(X)``, ``sample(n_samples=1, random_state=None)`` and ``score(X)``, and
``score_samples(X)`` where its density is tractable, so the scorers of
:mod:`skqegm.metrics` compare them with QEGM in ``GridSearchCV``. As everywhere in the
package, a draw method's ``random_state=None`` means the estimator's ``random_state``
(draws afresh at each call for an estimator without one):

- deep generative models trained with torch (on :class:`skqegm.nn.BaseTorchEstimator`):
  :class:`GANSampler` (Wasserstein, one-sided gradient penalty),
  :class:`VAESampler`, :class:`DiffusionSampler` (DDPM);
- parametric and extreme-value models: :class:`StudentTSampler` (maximum likelihood),
  :class:`GPDTailSampler` (generalized Pareto tails over a body);
- the VaR baseline of practitioners: :func:`historical_simulation`.

Tail-risk baselines with the ``fit(X, y)`` / ``predict_var`` / ``predict_es`` API of
:class:`~skqegm.TailRiskEstimator`, on the same lagged-return features:
:class:`GARCHRiskEstimator` (GARCH, GJR-GARCH, normal / t / skewed-t innovations or
filtered historical simulation; needs ``arch``), :class:`EWMARiskEstimator`
(RiskMetrics' EWMA volatility with a normal or FHS tail; no optional package) and
:class:`HistoricalSimulation`.

The controls of QEGM need no class here: ``QEGMSampler(latent="gaussian")`` (the
classical twin), ``latent="categorical"`` (a discrete latent without a circuit),
``entanglement=None`` (a circuit without entanglement), ``noise="prng"`` / ``"qrng"`` /
``None`` and ``tail_weight=0``.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "diffusion": ["DiffusionSampler"],
    "ewma": ["EWMARiskEstimator"],
    "gan": ["GANSampler"],
    "garch": ["GARCHRiskEstimator"],
    "gpd": ["GPDTailSampler"],
    "historical": ["HistoricalSimulation", "historical_simulation"],
    "student_t": ["StudentTSampler"],
    "vae": ["VAESampler"],
})

__all__ = ["DiffusionSampler", "EWMARiskEstimator", "GANSampler", "GARCHRiskEstimator",
           "GPDTailSampler", "HistoricalSimulation", "StudentTSampler", "VAESampler",
           "historical_simulation"]
