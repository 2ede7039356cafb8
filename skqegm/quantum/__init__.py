"""The quantum layer: circuits, an exact torch simulator, Qiskit backends, transformers.

It knows no model: models compose :class:`EstimatorTransformer` /
:class:`SamplerTransformer` (or the :class:`StatevectorSimulator` inside torch) with
their own networks.
"""

from ..utils._lazy import attach

# Each name is imported from its module on first use (see skqegm.utils._lazy).
__getattr__, __dir__ = attach(__name__, {
    "backends": ["BACKEND_NAMES", "CircuitRunner", "check_backend"],
    "circuits": [
        "amplitude_encoding", "amplitude_encoding_angles", "angle_encoding",
        "hardware_efficient_ansatz", "variational_circuit",
    ],
    "gradients": ["parameter_shift_jacobian"],
    "noisy_simulator": ["NoisyDensityMatrixSimulator"],
    "qrng": ["QuantumRandomSource", "monobit_test", "runs_test", "von_neumann_extract"],
    "runtime": ["DeviceRecord", "JobManager"],
    "simulator": ["StatevectorSimulator", "exact_bytes_per_row", "exact_fixed_bytes"],
    "torch_layer": ["QuantumLayer"],
    "transformers": ["EstimatorTransformer", "SamplerTransformer"],
})

__all__ = [
    "BACKEND_NAMES",
    "CircuitRunner",
    "DeviceRecord",
    "EstimatorTransformer",
    "JobManager",
    "NoisyDensityMatrixSimulator",
    "QuantumLayer",
    "QuantumRandomSource",
    "SamplerTransformer",
    "StatevectorSimulator",
    "amplitude_encoding",
    "amplitude_encoding_angles",
    "angle_encoding",
    "check_backend",
    "exact_bytes_per_row",
    "exact_fixed_bytes",
    "hardware_efficient_ansatz",
    "monobit_test",
    "parameter_shift_jacobian",
    "runs_test",
    "variational_circuit",
    "von_neumann_extract",
]
