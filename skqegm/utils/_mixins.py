"""Mixins shared by the package's estimators."""

from sklearn.base import DensityMixin


class LogDensityScoreMixin(DensityMixin):
    """``score`` as the mean of ``score_samples``, as in ``GaussianMixture``."""

    def score(self, X, y=None):
        """Mean log-density of the rows of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        return float(self.score_samples(X).mean())
