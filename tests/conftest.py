import pytest
from qiskit.primitives import StatevectorEstimator, StatevectorSampler


class CountingEstimator(StatevectorEstimator):
    """A ready estimator primitive that counts its run() calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def run(self, pubs, *, precision=None):
        self.calls += 1
        return super().run(pubs, precision=precision)


class CountingSampler(StatevectorSampler):
    """A ready sampler primitive that counts its run() calls."""

    def __init__(self):
        super().__init__()
        self.calls = 0

    def run(self, pubs, *, shots=None):
        self.calls += 1
        return super().run(pubs, shots=shots)


@pytest.fixture
def counting_estimator():
    return CountingEstimator()


@pytest.fixture
def counting_sampler():
    return CountingSampler()
