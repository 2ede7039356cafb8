"""Models: the hybrid quantum-latent generative model, its classical twin, and the
conditional tail-risk estimator built on the same architecture.

They compose the quantum layer (:mod:`skqegm.quantum`) with torch networks, trained by the
fit loop of :mod:`skqegm.nn`; the twin differs only in the latent module it plugs in.
"""

from .sampler import QEGMSampler
from .tail_risk import TailRiskEstimator

__all__ = ["QEGMSampler", "TailRiskEstimator"]
