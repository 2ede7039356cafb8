import numpy as np
import pytest
from qiskit.quantum_info import Statevector

from skqegm.quantum import (
    amplitude_encoding,
    amplitude_encoding_angles,
    angle_encoding,
    hardware_efficient_ansatz,
    variational_circuit,
)


def test_ansatz_gate_counts_match_the_paper_example():
    qc = hardware_efficient_ansatz(6, 5)
    ops = qc.count_ops()
    assert ops["ry"] + ops["rz"] == 60
    assert ops["cx"] == 25
    assert qc.num_parameters == 60


def test_ansatz_layer_structure_ry_then_rz_then_cnot_chain():
    qc = hardware_efficient_ansatz(3, 2)
    names = [inst.operation.name for inst in qc.data]
    layer = ["ry", "rz"] * 3 + ["cx", "cx"]
    assert names == layer * 2
    cx_pairs = [tuple(qc.find_bit(q).index for q in inst.qubits)
                for inst in qc.data if inst.operation.name == "cx"]
    assert cx_pairs == [(0, 1), (1, 2)] * 2
    # Weight 2 * (l * n + i) is the Ry of qubit i in layer l, the next one its Rz.
    first_layer = [(inst.operation.name, qc.find_bit(inst.qubits[0]).index,
                    inst.operation.params[0].index) for inst in qc.data[:6]]
    assert first_layer == [("ry", 0, 0), ("rz", 0, 1), ("ry", 1, 2), ("rz", 1, 3),
                           ("ry", 2, 4), ("rz", 2, 5)]


def test_angle_encoding_prepares_the_product_state():
    x = np.array([0.3, -1.2, 2.0])
    state = Statevector(angle_encoding(3).assign_parameters(x))
    single = [np.array([np.cos(v / 2), np.sin(v / 2)]) for v in x]
    expected = np.kron(np.kron(single[2], single[1]), single[0])  # qubit 0 rightmost
    np.testing.assert_allclose(state.data, expected, atol=1e-12)


@pytest.mark.parametrize("n_features", [1, 2, 3, 5, 8, 16])
def test_amplitude_encoding_prepares_normalised_padded_signed_amplitudes(n_features):
    rng = np.random.default_rng(n_features)
    X = rng.normal(size=(4, n_features))
    qc = amplitude_encoding(n_features)
    assert qc.num_qubits == max(1, int(np.ceil(np.log2(n_features))))
    params = sorted(qc.parameters, key=lambda p: p.index)
    for x, angles in zip(X, amplitude_encoding_angles(X, qc.num_qubits)):
        state = Statevector(qc.assign_parameters(dict(zip(params, angles)))).data
        expected = np.zeros(2**qc.num_qubits)
        expected[:n_features] = x / np.linalg.norm(x)
        np.testing.assert_allclose(state, expected, atol=1e-12)


def test_amplitude_encoding_of_sixteen_features_uses_four_qubits():
    assert amplitude_encoding(16).num_qubits == 4


def test_amplitude_encoding_rejects_a_zero_vector():
    with pytest.raises(ValueError, match="non-zero norm"):
        amplitude_encoding_angles(np.array([[1.0, 2.0], [0.0, 0.0]]), 1)


@pytest.mark.parametrize("bad", [0, -1, 2.5, "3"])
def test_sizes_must_be_positive_integers(bad):
    with pytest.raises(ValueError, match="n_layers"):
        hardware_efficient_ansatz(2, bad)
    with pytest.raises(ValueError, match="n_qubits"):
        angle_encoding(bad)


def test_variational_circuit_lists_parameters_in_binding_order():
    qc, inputs, weights = variational_circuit(3, 2)
    assert [p.name for p in inputs] == ["x[0]", "x[1]", "x[2]"]
    assert [p.index for p in weights] == list(range(12))
    assert set(qc.parameters) == set(inputs) | set(weights)
    with pytest.raises(ValueError, match="encoding must be one of"):
        variational_circuit(3, 2, encoding="basis")


def test_n_amplitude_qubits_needs_a_feature():
    from skqegm.quantum.circuits import n_amplitude_qubits

    with pytest.raises(ValueError, match="n_features"):
        n_amplitude_qubits(0)


@pytest.mark.parametrize("scale", [1e300, 1e-200])
def test_normalized_amplitudes_and_norms_survive_extreme_magnitudes(scale):
    from skqegm.quantum.circuits import check_nonzero_rows, normalized_amplitudes

    X = np.array([[3.0, -4.0], [0.0, 2.0]])
    np.testing.assert_allclose(normalized_amplitudes(X * scale, 1), normalized_amplitudes(X, 1))
    np.testing.assert_allclose(check_nonzero_rows(X * scale), [5.0 * scale, 2.0 * scale])


@pytest.mark.parametrize("encoding", ["angle", "amplitude"])
@pytest.mark.parametrize("n_features", [0, 2.0])
def test_variational_circuit_names_a_bad_n_features(encoding, n_features):
    # The angle encoding called it n_qubits.
    with pytest.raises(ValueError, match="n_features must be"):
        variational_circuit(n_features, 1, encoding=encoding)


def test_amplitude_encoding_angles_of_no_rows():
    # numpy could not infer the -1 of an empty reshape.
    assert amplitude_encoding_angles(np.zeros((0, 5)), 3).shape == (0, 7)


@pytest.mark.parametrize("X", [[1.0, 2.0], 3.0, [[[1.0, 2.0]]]])
def test_amplitude_encoding_angles_name_an_x_that_is_not_2d(X):
    with pytest.raises(ValueError, match=r"X must have shape \(n_samples, n_features\)"):
        amplitude_encoding_angles(X, 1)
