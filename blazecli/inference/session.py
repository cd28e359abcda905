"""ONNX Runtime session: pick the execution provider that really runs, keep ORT's noise quiet.

onnxruntime-gpu lists CUDA among the available providers even on machines without a GPU, and
silently falls back to CPU when CUDA cannot load. So the provider is decided from what the
created session reports, never from ``get_available_providers()``.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..choices import DEVICES
from ..errors import DeviceUnavailableError, InvalidOptionError
from ..media.sampling import to_model_input
from ..models import ModelSpec

_PROVIDER_NAMES = {"CUDAExecutionProvider": "cuda", "CPUExecutionProvider": "cpu"}
_NCHWC_MACHINES = frozenset({"x86_64", "amd64", "i386", "i686", "x86"})  # where ORT has NCHWc kernels


def _cuda_driver_present() -> bool:
    """Cheap check before asking ORT for CUDA: without the driver library it cannot work."""
    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return False
    return True


def _preload_cuda_libraries(ort) -> None:
    """Let ORT find CUDA/cuDNN from pip packages (torch, nvidia-*) without LD_LIBRARY_PATH."""
    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        return
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            preload()
        except Exception:  # best effort; the session reports what really loaded
            pass


class Session:
    """An ORT session for one model plus the provider that actually runs it (``cpu``/``cuda``).

    Takes uint8 model-input pixels; a graph that wants float32 gets them normalized here, one
    that takes uint8 (the CUDA form) normalizes them itself.
    """

    def __init__(self, inference: Any, provider: str) -> None:
        self.inference = inference
        self.provider = provider
        self.takes_uint8 = inference.get_inputs()[0].type == "tensor(uint8)"

    def feed(self, samples: np.ndarray) -> np.ndarray:
        """uint8 samples as this graph's input wants them."""
        return samples if self.takes_uint8 else to_model_input(samples)

    def run(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 ``(N, S, S, 3)`` -> float32 ``(regressors (N, A, 16), logits (N, A, 1))``."""
        regressors, logits = self.inference.run(None, {"input": self.feed(samples)})
        return regressors, logits


class BoundSession(Session):
    """Runs batches through input and output buffers that stay put on the device (I/O binding).

    Why: a plain ``run`` on CUDA allocates device memory for its input and outputs on every
    call. Here each batch capacity (a power of two) gets its buffers once, and a batch is padded
    up to its capacity; with the uint8 form (a quarter of the bytes to copy, normalized on the
    GPU) this beat a plain ``run`` fed float32 (figures: benchmarks/RESULTS.md). A lock keeps callers on several
    threads from writing into the same buffers (ORT's own ``run`` is thread-safe; this must be
    too).
    """

    def __init__(self, inference: Any, provider: str, device_type: str) -> None:
        super().__init__(inference, provider)
        self.device_type = device_type
        self._bound: dict[int, BoundBuffers] = {}
        self._lock = threading.Lock()

    def run(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = len(samples)
        if count == 0:
            regressors, logits = (np.zeros((0, *o.shape[1:]), np.float32)
                                  for o in self.inference.get_outputs())
            return regressors, logits
        capacity = 1 << (count - 1).bit_length()
        fed = self.feed(samples)
        with self._lock:
            buffers = self.bind(capacity)
            buffers.staging[:count] = fed
            buffers.input.update_inplace(buffers.staging)
            self.inference.run_with_iobinding(buffers.binding)
            regressors, logits = buffers.binding.copy_outputs_to_cpu()
        return regressors[:count], logits[:count]

    def bind(self, capacity: int) -> BoundBuffers:
        """The device buffers for batches of ``capacity`` frames, made once."""
        if capacity in self._bound:
            return self._bound[capacity]
        import onnxruntime as ort

        model_input = self.inference.get_inputs()[0]
        shape = (capacity, *model_input.shape[1:])
        staging = np.zeros(shape, np.uint8 if self.takes_uint8 else np.float32)
        value = ort.OrtValue.ortvalue_from_numpy(staging, self.device_type, 0)
        binding = self.inference.io_binding()
        binding.bind_ortvalue_input(model_input.name, value)
        for output in self.inference.get_outputs():
            binding.bind_ortvalue_output(output.name, ort.OrtValue.ortvalue_from_shape_and_type(
                (capacity, *output.shape[1:]), np.float32, self.device_type, 0))
        buffers = self._bound[capacity] = BoundBuffers(staging, value, binding)
        return buffers


@dataclass
class BoundBuffers:
    """One capacity's buffers: ``staging`` on the host, ``input`` (an OrtValue) on the device,
    and the binding of it and of both outputs."""

    staging: np.ndarray
    input: Any
    binding: Any


def default_threads(tiled: bool = False) -> int:
    """Half the cores: the video decoder runs beside inference and needs the other half.

    On 2 cores one ORT thread beat two once a decoder competed for the CPU. With tiles, inference
    is most of the work (four model inputs a frame), and every core was faster.
    """
    cores = os.cpu_count() or 2
    return cores if tiled else max(1, cores // 2)


# CUDA provider settings (chosen with benchmarks/bench_inference.py; figures in
# benchmarks/RESULTS.md):
# - NHWC convolutions: well ahead of ORT's default NCHW layout;
# - float32 without TF32: outputs stay with the CPU's; TF32 is faster but moves scores visibly;
# - cuDNN's heuristic choice of algorithms: as fast as its exhaustive search, and chosen
#   without timing runs, so the choice cannot vary from one run to the next.
# CUDA graphs are left off: no faster at large batches, and in ORT 1.31.1 replaying one graph
# after capturing another (a batch of another size) poisoned the process's CUDA context.
CUDA_OPTIONS = {"prefer_nhwc": "1", "use_tf32": "0", "cudnn_conv_algo_search": "HEURISTIC"}


def create_session(model_path: Path, device: str = "auto", threads: int | None = None,
                   spinning: bool = False, cuda_options: dict[str, str] | None = None) -> Session:
    """Open ``model_path`` on ``device``; ``--device cuda`` without a working CUDA is an error.

    ``threads`` sets ORT's intra-op threads (None: :func:`default_threads`). Spinning is off by
    default so that idle ORT threads do not burn the cores a decoder needs. On CUDA the session
    runs through bound device buffers (:class:`BoundSession`); ``cuda_options`` replaces
    :data:`CUDA_OPTIONS`.
    """
    if device not in DEVICES:
        raise InvalidOptionError(f"unknown `device` {device!r}: choose one of {', '.join(DEVICES)}")
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # a failed CUDA load is reported below, in our words
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

    providers: list = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and _cuda_driver_present():
        _preload_cuda_libraries(ort)
        providers.insert(0, ("CUDAExecutionProvider",
                             CUDA_OPTIONS if cuda_options is None else cuda_options))
    inference = ort.InferenceSession(str(model_path), options, providers=providers)
    provider = _PROVIDER_NAMES.get(inference.get_providers()[0], inference.get_providers()[0])
    if device == "cuda" and provider != "cuda":
        raise DeviceUnavailableError(
            "`device=cuda` was asked for, but CUDA does not run here (no NVIDIA driver, or "
            "onnxruntime-gpu could not load the CUDA/cuDNN libraries); use `device=cpu` or auto")
    if provider == "cuda":
        return BoundSession(inference, provider, "cuda")
    return Session(inference, provider)


def open_model(spec: ModelSpec, device: str = "auto", threads: int | None = None) -> Session:
    """A session for ``spec`` in the graph form that suits where it runs.

    x86 CPUs get the form shaped for ONNX Runtime's blocked kernels (faster, the same values);
    other CPUs get the network as
    converted, since there the extra zero channels would only be extra work; CUDA gets the form
    that takes uint8 pixels (a quarter of the bytes to send) and normalizes them on the GPU.
    """
    cpu_form = spec.nchwc_path if platform.machine().lower() in _NCHWC_MACHINES else spec.path
    if device == "cpu" or not _cuda_driver_present():
        return create_session(cpu_form, device, threads)
    session = create_session(spec.cuda_path, device, threads)
    if session.provider == "cpu":  # CUDA did not load after all
        session = create_session(cpu_form, "cpu", threads)
    return session
