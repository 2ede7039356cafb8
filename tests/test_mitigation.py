"""Readout-error mitigation: the tensored inverse, and what it gains on a fake device."""

import warnings

import numpy as np
import pytest
from qiskit_ibm_runtime.fake_provider import FakeManilaV2

from skqegm.quantum import SamplerTransformer
from skqegm.quantum.mitigation import mitigate_probabilities, readout_assignment_matrices


def test_the_tensored_inverse_undoes_the_full_assignment_matrix():
    rng = np.random.default_rng(0)
    A = np.array([[[1 - a, b], [a, 1 - b]] for a, b in rng.uniform(0, 0.1, size=(3, 2))])
    true = rng.dirichlet(np.ones(8), size=4)
    full = np.kron(np.kron(A[2], A[1]), A[0])  # qubit 0 is the least significant bit
    np.testing.assert_allclose(mitigate_probabilities(true @ full.T, A), true, atol=1e-12)


def test_assignment_matrices_come_from_the_calibration_of_the_layout_qubits():
    matrices = readout_assignment_matrices(FakeManilaV2(), [3, 0])
    properties = FakeManilaV2().properties()
    assert matrices[0, 1, 0] == properties.qubit_property(3, "prob_meas1_prep0")[0]
    assert matrices[1, 0, 1] == properties.qubit_property(0, "prob_meas0_prep1")[0]
    np.testing.assert_allclose(matrices.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match="needs a device with readout calibration"):
        readout_assignment_matrices("aer", [0])


def test_mitigation_brings_a_fake_device_closer_to_the_noiseless_probabilities():
    X = np.random.default_rng(0).uniform(0, np.pi, size=(10, 3))
    noiseless = SamplerTransformer(n_layers=1, random_state=0).fit(X).transform(X)

    def distance(mitigate):
        qt = SamplerTransformer(n_layers=1, backend=FakeManilaV2(), shots=4000,
                                random_state=0, readout_mitigation=mitigate).fit(X)
        probs = qt.transform(X)
        np.testing.assert_allclose(probs.sum(axis=1), 1.0)
        assert (probs >= 0).all()
        return 0.5 * np.abs(probs - noiseless).sum(axis=1).mean()  # total variation

    raw, mitigated = distance(False), distance(True)
    assert mitigated < raw / 3, (raw, mitigated)  # measured: 0.107 -> 0.013 at 20,000 shots


@pytest.mark.parametrize("kwargs", [dict(backend="aer", shots=100),
                                    dict(backend=FakeManilaV2(), shots=None),
                                    dict(backend=None, shots=100)],
                         ids=["simulator", "exact", "exact-backend"])
def test_mitigation_needs_sampled_probabilities_on_a_device(kwargs):
    with pytest.raises(ValueError, match="readout_mitigation=True mitigates sampled"):
        SamplerTransformer(readout_mitigation=True, **kwargs).fit([[0.1]])


A = np.array([[[0.9, 0.0], [0.1, 1.0]]])


@pytest.mark.parametrize("probabilities, matrices, match", [
    ([[0.5, 0.5]], np.concatenate([A, A]), r"probabilities must have shape \(n_rows, 4\)"),
    ([0.5, 0.5], A, r"probabilities must have shape \(n_rows, 2\)"),
    ([[0.5, 0.5]], A[0], r"matrices must have shape \(n_qubits, 2, 2\)"),
    ([[0.0, 0.0]], A, "rows with a positive sum; row 0"),
    ([[0.5, 0.5]], np.full((1, 2, 2), 0.5), "qubit 0 is singular"),
    ([[np.nan, 1.0]], A, "finite and non-negative"),
    ([[-1.0, 2.0]], A, "finite and non-negative"),
    ([[0.5, 0.5]], A.transpose(0, 2, 1), r"matrices\[0\] must be an assignment matrix.*"
                                         r"columns sum to \[0\.9, 1\.1\]"),
    ([[0.5, 0.5]], np.array([[[1.5, 0.0], [-0.5, 1.0]]]), r"matrices\[0\] must be an assign"),
], ids=["too-few-columns", "1-D", "one-matrix-2-D", "zero-row", "singular", "nan", "negative",
        "transposed", "not-a-probability"])
def test_bad_probabilities_or_matrices_are_named(probabilities, matrices, match):
    # numpy's reshape error, a LinAlgError, or NaN rows for a row of zeros.
    with pytest.raises(ValueError, match=match):
        mitigate_probabilities(probabilities, matrices)


def test_a_nearly_singular_readout_is_undone_with_a_warning():
    # P(1|0) = P(0|1) = 0.4995: frequencies 0.52 / 0.48 became [1, 0], silently.
    p = (1 - 1e-3) / 2
    nearly = np.array([[[1 - p, p], [p, 1 - p]]])
    with pytest.warns(UserWarning, match=r"qubit 0 is nearly singular .* up to 1,000"):
        mitigate_probabilities([[0.52, 0.48]], nearly)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mitigate_probabilities([[0.52, 0.48]], A)  # a 10% readout error: no warning
