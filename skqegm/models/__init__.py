"""Models: the hybrid quantum-latent generative model and its classical twin.

They compose the quantum layer (:mod:`skqegm.quantum`) with torch networks; the twin
differs only in the latent module it plugs in.
"""

from .pipeline import sample_pipeline
from .sampler import QEGMSampler

__all__ = ["QEGMSampler", "sample_pipeline"]
