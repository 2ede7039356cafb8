"""Readout-error mitigation of sampled outcome probabilities (tensored assignment matrices).

A device misreads qubit ``q`` with probabilities ``p(1|0)`` and ``p(0|1)``, given by its
calibration data. With the qubits misread independently, the measured distribution is
``A p`` for ``A = A_{n-1} (x) ... (x) A_0`` and ``A_q = [[1 - p(1|0), p(0|1)],
[p(1|0), 1 - p(0|1)]]``; applying each ``A_q^{-1}`` along its qubit's axis undoes it in
``O(n 2**n)`` per row, without forming ``A``. Shot noise can then leave small negative
entries: they are clipped and the row renormalised. Gate errors are not mitigated.
"""

import warnings

import numpy as np

from ..utils._warnings import caller_stacklevel

#: :func:`mitigate_probabilities` warns where undoing a qubit's readout multiplies its
#: shot noise by more than this (``1 / |det A_q|``; a readout error ``P(1|0) + P(0|1)``
#: above 0.9).
NOISE_AMPLIFICATION_WARNING = 10.0


def readout_assignment_matrices(backend, qubits):
    """The 2 x 2 assignment matrix of each device qubit in ``qubits``, from its calibration.

    Parameters
    ----------
    backend : BackendV2
        A device with calibration data (``backend.properties()`` giving
        ``prob_meas1_prep0`` and ``prob_meas0_prep1``): a real IBM device or a fake one.
    qubits : list of int
        The device qubits measured, logical qubit ``i`` on ``qubits[i]``.

    Returns
    -------
    matrices : ndarray of shape (len(qubits), 2, 2)
        ``matrices[i][m, t]``: the probability of reading ``m`` when qubit ``i`` was ``t``.

    Raises
    ------
    ValueError
        If the device has no readout calibration data.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.mitigation import readout_assignment_matrices
    >>> readout_assignment_matrices(FakeManilaV2(), [0]).round(4).tolist()
    [[[0.9842, 0.0548], [0.0158, 0.9452]]]
    """
    try:
        properties = backend.properties()
        flips = [(properties.qubit_property(q, "prob_meas1_prep0")[0],
                  properties.qubit_property(q, "prob_meas0_prep1")[0]) for q in qubits]
    except Exception as exc:  # a simulator, a primitive, or a device without the data
        raise ValueError(
            "readout_mitigation needs a device with readout calibration data "
            "(properties() giving prob_meas1_prep0 and prob_meas0_prep1 per qubit); got "
            f"{backend!r}.") from exc
    return np.array([[[1.0 - p10, p01], [p10, 1.0 - p01]] for p10, p01 in flips])


def noise_model_assignment_matrices(backend, qubits):
    """The 2 x 2 assignment matrix of each qubit in ``qubits``, from the device's noise
    model (``NoiseModel.from_backend``): the readout errors a fake device's samples carry.

    qiskit-aer builds them from the device's target (one symmetric error per qubit, its
    ``measure`` error); they differ from the calibration's
    (:func:`readout_assignment_matrices`). A qubit without a readout error reads exactly.

    Parameters
    ----------
    backend : BackendV2
        A device with a target (e.g. ``FakeManilaV2()``).
    qubits : list of int
        The device qubits measured, logical qubit ``i`` on ``qubits[i]``.

    Returns
    -------
    matrices : ndarray of shape (len(qubits), 2, 2)
        ``matrices[i][m, t]``: the probability of reading ``m`` when qubit ``i`` was ``t``.

    Examples
    --------
    >>> from qiskit_ibm_runtime.fake_provider import FakeManilaV2
    >>> from skqegm.quantum.mitigation import noise_model_assignment_matrices
    >>> noise_model_assignment_matrices(FakeManilaV2(), [0]).round(4).tolist()
    [[[0.9647, 0.0353], [0.0353, 0.9647]]]
    """
    from qiskit_aer.noise.device import basic_device_readout_errors

    errors = {int(q[0]): np.asarray(error.probabilities, dtype=float)
              for q, error in basic_device_readout_errors(target=backend.target)}
    # ReadoutError.probabilities[t, m] is P(read m | prepared t): transposed here.
    return np.array([errors[q].T if q in errors else np.eye(2) for q in qubits])


def mitigate_probabilities(probabilities, matrices):
    """Undo tensored readout errors in outcome probabilities, row by row.

    Parameters
    ----------
    probabilities : array-like of shape (n_rows, 2**n_qubits)
        Measured outcome frequencies; outcome ``k`` has qubit 0 as its least significant
        bit.
    matrices : array-like of shape (n_qubits, 2, 2)
        Each qubit's assignment matrix (see :func:`readout_assignment_matrices`).

    Returns
    -------
    mitigated : ndarray of shape (n_rows, 2**n_qubits)
        Non-negative rows that sum to 1.

    Raises
    ------
    ValueError
        For probabilities that are not finite and non-negative, or matrices that are not
        assignment matrices (each column summing to 1) or are singular.

    Warns
    -----
    UserWarning
        Where undoing a qubit's readout multiplies its shot noise by more than
        ``NOISE_AMPLIFICATION_WARNING``.

    Examples
    --------
    One qubit read as 1 with probability 0.1 when it was 0:

    >>> import numpy as np
    >>> from skqegm.quantum.mitigation import mitigate_probabilities
    >>> A = np.array([[[0.9, 0.0], [0.1, 1.0]]])
    >>> mitigate_probabilities([[0.9, 0.1], [0.45, 0.55]], A).round(6).tolist()
    [[1.0, 0.0], [0.5, 0.5]]
    """
    probs = np.array(probabilities, dtype=float)
    matrices = np.asarray(matrices, dtype=float)
    # Checked here: numpy failed with a reshape error, or returned NaN for a zero row.
    if matrices.ndim != 3 or matrices.shape[1:] != (2, 2):
        raise ValueError(f"matrices must have shape (n_qubits, 2, 2); got {matrices.shape}.")
    n = len(matrices)
    if probs.ndim != 2 or probs.shape[1] != 2**n:
        raise ValueError(f"probabilities must have shape (n_rows, {2**n}) for {n} assignment "
                         f"matrices; got {probs.shape}.")
    if not np.isfinite(probs).all() or (probs < 0).any():
        # NaN went through as NaN rows, and negative frequencies were clipped to 0.
        raise ValueError("probabilities must be finite and non-negative (outcome "
                         "frequencies); got NaN, infinity or a negative entry.")
    if np.any(probs.sum(axis=1) <= 0):
        raise ValueError("probabilities must have rows with a positive sum; row "
                         f"{int(np.argmax(probs.sum(axis=1) <= 0))} has none.")
    _check_assignment(matrices)
    det = np.abs(np.linalg.det(matrices))
    singular = np.flatnonzero(det < 1e-12)
    if singular.size:
        raise ValueError(f"the assignment matrix of qubit {singular[0]} is singular (its "
                         "readout carries no information): it cannot be undone.")
    if det.min() < 1.0 / NOISE_AMPLIFICATION_WARNING:
        q = int(np.argmin(det))
        warnings.warn(
            f"the assignment matrix of qubit {q} is nearly singular (determinant "
            f"{det[q]:.3g}, P(1|0) + P(0|1) = {1 - det[q]:.3g}): undoing it multiplies the "
            f"shot noise of its outcomes by up to {1 / det[q]:,.0f}, so the mitigated "
            "probabilities are mostly noise.", UserWarning,
            stacklevel=caller_stacklevel())
    n_rows = probs.shape[0]
    # Axis 1 of the reshaped row is the most significant bit, qubit n - 1.
    tensor = probs.reshape((n_rows,) + (2,) * n)
    for q, matrix in enumerate(matrices):
        axis = n - q
        tensor = np.moveaxis(np.tensordot(np.linalg.inv(matrix), tensor, axes=([1], [axis])),
                             0, axis)
    mitigated = np.clip(tensor.reshape(n_rows, -1), 0.0, None)
    return mitigated / mitigated.sum(axis=1, keepdims=True)


def _check_assignment(matrices):
    """Refuse matrices that are not column-stochastic, such as the transposed orientation
    (``P(read m | prepared t)`` at ``[t, m]``, qiskit-aer's ``ReadoutError``): with
    asymmetric errors that was undone silently wrong (0.349 for a true 0.3)."""
    columns = matrices.sum(axis=1)  # (n_qubits, 2): sums over the read outcome m
    bad = ~np.isfinite(matrices).all(axis=(1, 2)) | (matrices < 0).any(axis=(1, 2))
    bad |= (np.abs(columns - 1.0) > 1e-6).any(axis=1)
    if bad.any():
        q = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"matrices[{q}] must be an assignment matrix: entry [m, t] the probability of "
            "reading m when the qubit was t, non-negative, each column summing to 1; its "
            f"columns sum to {np.round(columns[q], 6).tolist()} (a matrix indexed [t, m], "
            "as qiskit-aer's ReadoutError.probabilities, must be transposed).")
