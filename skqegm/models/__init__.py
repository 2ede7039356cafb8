"""Models: the hybrid quantum-latent generative model, its classical twin, and the
conditional tail-risk estimator built on the same architecture, alone or on returns
standardised by a volatility filter.

They compose the quantum layer (:mod:`skqegm.quantum`) with torch networks, trained by the
fit loop of :mod:`skqegm.nn`; the twin differs only in the latent module it plugs in.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "sampler": ["QEGMSampler"],
    "tail_risk": ["TailRiskEstimator"],
    "filtered": ["FilteredRiskEstimator"],
})

__all__ = ["FilteredRiskEstimator", "QEGMSampler", "TailRiskEstimator"]
