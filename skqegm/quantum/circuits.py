"""Parametrised circuits of the QEGM variational layer (paper eqs. 11-13).

Every circuit uses only ``ry``, ``rz`` and ``cx`` gates, so it runs unchanged on the
Qiskit primitives and the torch simulator applies the same gates in the same order.
Parameters are ``ParameterVector`` elements; their binding order is the order of the
returned lists, never Qiskit's alphabetical ``circuit.parameters`` order.
"""

import math

import numpy as np

from ..utils._scaling import power_of_two_scale
from ..utils._validation import check_int, check_option

# qiskit is imported by the functions that build circuits, not here: the exact simulator
# reads only this module's checks and constants, and does not import qiskit.
ENCODINGS = ("angle", "amplitude")
#: The ``entanglement`` values: the CNOT chain, or none (a product of single qubits).
ENTANGLEMENTS = ("linear", None)


def check_entanglement(entanglement):
    """``entanglement`` if it is ``"linear"`` or ``None``; a ``ValueError`` otherwise.

    Examples
    --------
    >>> from skqegm.quantum.circuits import check_entanglement
    >>> check_entanglement(None) is None
    True
    >>> check_entanglement("full")
    Traceback (most recent call last):
        ...
    ValueError: entanglement must be 'linear' or None; got 'full'.
    """
    if entanglement is not None and not (isinstance(entanglement, str)
                                         and entanglement == "linear"):
        raise ValueError(f"entanglement must be 'linear' or None; got {entanglement!r}.")
    return entanglement


def hardware_efficient_ansatz(n_qubits, n_layers, entanglement="linear"):
    """The hardware-efficient ansatz of equation 11.

    Each of the ``n_layers`` layers applies ``Ry(theta)`` then ``Rz(phi)`` on every qubit,
    then the CNOT chain ``CNOT(i, i + 1)`` for ``i = 0 .. n_qubits - 2``.

    Parameters
    ----------
    n_qubits : int
        Number of qubits, at least 1.
    n_layers : int
        Number of layers ``L``, at least 1.
    entanglement : {"linear", None}, default="linear"
        ``"linear"``: the CNOT chain closes every layer. ``None``: no CNOT, so the
        circuit is a product of single-qubit circuits and its Born distribution a
        product of independent bits (a control that isolates the entanglement).

    Returns
    -------
    circuit : QuantumCircuit
        ``2 * n_qubits * n_layers`` rotations and ``(n_qubits - 1) * n_layers`` CNOTs
        (none with ``entanglement=None``).
        Its weight ``theta[2 * (l * n_qubits + i) + g]`` is the ``Ry`` (``g = 0``) or
        ``Rz`` (``g = 1``) angle of qubit ``i`` in layer ``l``.

    Examples
    --------
    >>> from skqegm.quantum import hardware_efficient_ansatz
    >>> qc = hardware_efficient_ansatz(6, 5)
    >>> qc.num_parameters, qc.count_ops()["cx"]
    (60, 25)
    >>> "cx" in hardware_efficient_ansatz(6, 5, entanglement=None).count_ops()
    False
    """
    from qiskit.circuit import ParameterVector, QuantumCircuit

    n_qubits = check_int(n_qubits, "n_qubits", min_value=1)
    n_layers = check_int(n_layers, "n_layers", min_value=1)
    entangle = check_entanglement(entanglement) is not None
    theta = ParameterVector("θ", 2 * n_qubits * n_layers)
    qc = QuantumCircuit(n_qubits, name="ansatz")
    for layer in range(n_layers):
        for i in range(n_qubits):
            k = 2 * (layer * n_qubits + i)
            qc.ry(theta[k], i)
            qc.rz(theta[k + 1], i)
        for i in range(n_qubits - 1 if entangle else 0):
            qc.cx(i, i + 1)
    return qc


def angle_encoding(n_qubits):
    """Angle encoding of equation 13: ``Ry(x_i)`` on qubit ``i``, one qubit per feature.

    Examples
    --------
    >>> from skqegm.quantum import angle_encoding
    >>> angle_encoding(3).num_parameters
    3
    """
    from qiskit.circuit import ParameterVector, QuantumCircuit

    n_qubits = check_int(n_qubits, "n_qubits", min_value=1)
    x = ParameterVector("x", n_qubits)
    qc = QuantumCircuit(n_qubits, name="angle_encoding")
    for i in range(n_qubits):
        qc.ry(x[i], i)
    return qc


def n_amplitude_qubits(n_features):
    """Qubits needed to amplitude-encode ``n_features`` values: ``ceil(log2 d)``, at least 1.

    Parameters
    ----------
    n_features : int
        Number of features ``d``, at least 1.

    Returns
    -------
    n_qubits : int
        The smallest ``n >= 1`` with ``2**n >= d``.

    Examples
    --------
    >>> from skqegm.quantum.circuits import n_amplitude_qubits
    >>> [n_amplitude_qubits(d) for d in (1, 2, 3, 4, 5, 8, 9)]
    [1, 1, 2, 2, 3, 3, 4]
    """
    n_features = check_int(n_features, "n_features", min_value=1)
    return max(1, math.ceil(math.log2(n_features)))


def amplitude_encoding(n_features):
    """Amplitude encoding of equation 12: ``d`` features on ``ceil(log2 d)`` qubits.

    The state ``sum_k x_k / ||x|| |k>`` (zero-padded to a power of two) is prepared by a
    binary tree of uniformly controlled ``Ry`` rotations (Mottonen et al., 2004), each
    decomposed into ``Ry`` and CNOT gates by the Gray-code construction. The circuit's
    parameters are the ``2**n - 1`` tree angles; :func:`amplitude_encoding_angles` maps
    features to them. Any real vector is reachable, signs included, with ``Ry`` alone.

    Parameters
    ----------
    n_features : int
        Number of features ``d``, at least 1.

    Returns
    -------
    circuit : QuantumCircuit
        On ``ceil(log2 d)`` qubits (at least 1), with ``2**n - 1`` parameters.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.quantum_info import Statevector
    >>> from skqegm.quantum import amplitude_encoding, amplitude_encoding_angles
    >>> x = np.array([[3.0, -4.0, 0.0]])
    >>> qc = amplitude_encoding(3)
    >>> bound = qc.assign_parameters(amplitude_encoding_angles(x, qc.num_qubits)[0])
    >>> np.round(Statevector(bound).data.real, 6)
    array([ 0.6, -0.8,  0. ,  0. ])
    """
    from qiskit.circuit import ParameterVector, QuantumCircuit

    n_features = check_int(n_features, "n_features", min_value=1)
    n_qubits = n_amplitude_qubits(n_features)
    alpha = ParameterVector("α", 2**n_qubits - 1)
    qc = QuantumCircuit(n_qubits, name="amplitude_encoding")
    offset = 0
    for level in range(n_qubits):
        # Level j rotates qubit n-1-j, controlled by the j qubits above it.
        target = n_qubits - 1 - level
        controls = list(range(target + 1, n_qubits))
        angles = alpha[offset:offset + 2**level]
        _uniformly_controlled_ry(qc, angles, controls, target)
        offset += 2**level
    return qc


def _uniformly_controlled_ry(qc, angles, controls, target):
    """Apply ``Ry(angles[c])`` on ``target`` when the ``controls`` hold the value ``c``.

    Gray-code decomposition: ``2**k`` plain ``Ry`` gates interleaved with CNOTs. Control
    qubit ``controls[i]`` is bit ``i`` of ``c``. The rotation angles are the fixed linear
    combinations ``phi = S.T @ angles / 2**k`` with ``S[c, i] = (-1)**popcount(c & g_i)``.
    """
    k = len(controls)
    if k == 0:
        qc.ry(angles[0], target)
        return
    size = 2**k
    gray = [i ^ (i >> 1) for i in range(size)]
    signs = np.array([[(-1) ** bin(c & g).count("1") for g in gray] for c in range(size)])
    for i in range(size):
        phi = sum(float(signs[c, i]) / size * angles[c] for c in range(size))
        qc.ry(phi, target)
        changed = gray[i] ^ gray[(i + 1) % size]
        qc.cx(controls[changed.bit_length() - 1], target)


def amplitude_encoding_angles(X, n_qubits):
    """Tree angles that make :func:`amplitude_encoding` prepare ``X / ||X||``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows to encode, ``n_features <= 2**n_qubits``; each is zero-padded and
        L2-normalised.
    n_qubits : int
        Qubits of the encoding circuit.

    Returns
    -------
    angles : ndarray of shape (n_samples, 2**n_qubits - 1)
        In the circuit's binding order (level by level, control value ascending).

    Raises
    ------
    ValueError
        If a row of ``X`` is all zeros or has more than ``2**n_qubits`` features.

    Examples
    --------
    >>> import numpy as np
    >>> from qiskit.quantum_info import Statevector
    >>> from skqegm.quantum import amplitude_encoding, amplitude_encoding_angles
    >>> X = np.array([[1.0, 2.0, -2.0, 4.0], [0.0, 0.0, 0.0, 1.0]])
    >>> angles = amplitude_encoding_angles(X, 2)
    >>> angles.shape
    (2, 3)
    >>> qc = amplitude_encoding(4)
    >>> states = [Statevector(qc.assign_parameters(a)).data.real for a in angles]
    >>> [(np.round(state, 6) + 0.0).tolist() for state in states]  # + 0.0: no -0.0
    [[0.2, 0.4, -0.4, 0.8], [0.0, 0.0, 0.0, 1.0]]
    """
    amplitudes = normalized_amplitudes(X, n_qubits)
    n_samples = amplitudes.shape[0]
    # Walk the tree from the leaves up: the last level keeps signs (atan2 of signed
    # amplitudes); the levels above see only non-negative norms.
    children = amplitudes
    levels = []
    for _ in range(n_qubits):
        pairs = children.reshape(n_samples, children.shape[1] // 2, 2)  # no -1: 0 rows
        levels.append(2.0 * np.arctan2(pairs[:, :, 1], pairs[:, :, 0]))
        children = np.sqrt((pairs**2).sum(axis=2))
    return np.concatenate(levels[::-1], axis=1)


def normalized_amplitudes(X, n_qubits):
    """Zero-pad each row of ``X`` to ``2**n_qubits`` entries and L2-normalise it.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Rows to normalise, ``n_features <= 2**n_qubits``.
    n_qubits : int
        Qubits of the amplitude encoding.

    Returns
    -------
    amplitudes : ndarray of shape (n_samples, 2**n_qubits)
        Each row ``x / ||x||`` followed by zeros: the amplitudes of the encoded state.

    Raises
    ------
    ValueError
        If a row has zero norm (it encodes no state) or too many features.

    Examples
    --------
    >>> from skqegm.quantum.circuits import normalized_amplitudes
    >>> normalized_amplitudes([[3.0, 4.0], [0.0, -2.0]], 2).tolist()
    [[0.6, 0.8, 0.0, 0.0], [0.0, -1.0, 0.0, 0.0]]
    >>> normalized_amplitudes([[1.0, 2.0, 3.0]], 1)
    Traceback (most recent call last):
        ...
    ValueError: X has 3 features; 1 qubits hold at most 2.
    """
    X = np.asarray(X, dtype=float)
    dim = 2**n_qubits
    if X.ndim != 2:  # a single row ([1, 2]) failed with an IndexError
        raise ValueError(f"X must have shape (n_samples, n_features); got {X.shape}.")
    if X.shape[1] > dim:
        raise ValueError(f"X has {X.shape[1]} features; {n_qubits} qubits hold at most {dim}.")
    # Each row times a power of two (exact) that brings its largest entry near 1, so the
    # squares of the norm neither overflow (1e160 gave zeros) nor underflow (1e-200).
    X = X * _row_scales(check_nonzero_rows(X, norms=np.abs(X).max(axis=1, initial=0.0)))
    padded = np.zeros((X.shape[0], dim))
    padded[:, : X.shape[1]] = X / np.linalg.norm(X, axis=1)[:, None]
    return padded


def _row_scales(peaks):
    """The power of two that brings each row's largest magnitude ``peaks`` near 1, as a
    column (multiplying by it is exact)."""
    return power_of_two_scale(peaks[:, None], axis=1)[:, None] if peaks.size else peaks[:, None]


def check_nonzero_rows(X, norms=None):
    """The L2 norm of each row of ``X``; a ``ValueError`` if one is zero.

    A row of zeros encodes no state. Unless given, the norms are computed a block of rows
    at a time, each row times a power of two that brings it near 1, so validating a
    large batch costs little memory and the squares neither underflow (a row of
    ``1e-200`` is not zero) nor overflow (a row of ``1e160`` has its norm).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        Rows to amplitude-encode.
    norms : ndarray of shape (n_samples,), default=None
        The norms, when the caller has them.

    Returns
    -------
    norms : ndarray of shape (n_samples,)

    Examples
    --------
    >>> import numpy as np
    >>> from skqegm.quantum.circuits import check_nonzero_rows
    >>> check_nonzero_rows(np.array([[3.0, 4.0]])).tolist()
    [5.0]
    >>> check_nonzero_rows(np.array([[1.0, 0.0], [0.0, 0.0]]))
    Traceback (most recent call last):
        ...
    ValueError: Amplitude encoding needs rows with a non-zero norm; rows [1] of X are all zeros.
    """
    if norms is None:
        norms = np.empty(len(X))
        for start in range(0, len(X), 4096):
            block = X[start:start + 4096]
            scales = _row_scales(np.abs(block).max(axis=1, initial=0.0))
            norms[start:start + 4096] = np.linalg.norm(block * scales, axis=1) / scales[:, 0]
    zero = np.flatnonzero(norms == 0)
    if zero.size:
        raise ValueError(
            "Amplitude encoding needs rows with a non-zero norm; "
            f"rows {zero[:5].tolist()} of X are all zeros."
        )
    return norms


def variational_circuit(n_features, n_layers, encoding="angle", entanglement="linear"):
    """Encoding followed by the ansatz: the circuit of the quantum variational layer.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_layers : int
        Ansatz layers.
    encoding : {"angle", "amplitude"}, default="angle"
        ``"angle"``: one qubit per feature, the features are the input parameters.
        ``"amplitude"``: ``ceil(log2 d)`` qubits, the input parameters are the tree
        angles of :func:`amplitude_encoding_angles`.
    entanglement : {"linear", None}, default="linear"
        The ansatz's CNOT chain, or none: see :func:`hardware_efficient_ansatz`. The
        amplitude encoding keeps its own CNOTs (they prepare the input state).

    Returns
    -------
    circuit : QuantumCircuit
    input_params : list of Parameter
    weight_params : list of Parameter
        Both in binding order.

    Examples
    --------
    >>> from skqegm.quantum import variational_circuit
    >>> qc, inputs, weights = variational_circuit(4, 3)
    >>> qc.num_qubits, len(inputs), len(weights)
    (4, 4, 24)
    """
    check_option(encoding, "encoding", ENCODINGS)
    # Named here: angle_encoding would name it n_qubits.
    n_features = check_int(n_features, "n_features", min_value=1)
    if encoding == "angle":
        encoder = angle_encoding(n_features)
    else:
        encoder = amplitude_encoding(n_features)
    ansatz = hardware_efficient_ansatz(encoder.num_qubits, n_layers, entanglement)
    circuit = encoder.compose(ansatz)
    circuit.name = f"qvl_{encoding}"
    input_params = sorted(encoder.parameters, key=lambda p: p.index)
    weight_params = sorted(ansatz.parameters, key=lambda p: p.index)
    return circuit, input_params, weight_params
