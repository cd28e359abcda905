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
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DeviceUnavailableError, InvalidOptionError
from .models import ModelSpec

DEVICES = ("auto", "cpu", "cuda")
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
        except Exception:  # noqa: BLE001 - best effort; the session reports what really loaded
            pass


@dataclass
class Session:
    """An ORT session for one model plus the provider that actually runs it (``cpu``/``cuda``)."""

    inference: object
    provider: str

    def run(self, batch: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(N, S, S, 3)`` float32 -> ``(regressors (N, A, 16), logits (N, A, 1))``."""
        regressors, logits = self.inference.run(None, {"input": batch})
        return regressors, logits


def default_threads() -> int:
    """Half the cores: the video decoder runs beside inference and needs the other half.

    On 2 cores one ORT thread beats two once a decoder competes for the CPU (measured).
    """
    return max(1, (os.cpu_count() or 2) // 2)


def create_session(model_path: Path, device: str = "auto", threads: int | None = None,
                   spinning: bool = False) -> Session:
    """Open ``model_path`` on ``device``; ``--device cuda`` without a working CUDA is an error.

    ``threads`` sets ORT's intra-op threads (None: :func:`default_threads`). Spinning is off by
    default so that idle ORT threads do not burn the cores a decoder needs.
    """
    if device not in DEVICES:
        raise InvalidOptionError(f"unknown device {device!r}: choose one of {', '.join(DEVICES)}")
    import onnxruntime as ort

    ort.set_default_logger_severity(4)  # a failed CUDA load is reported below, in our words
    options = ort.SessionOptions()
    options.log_severity_level = 4
    options.intra_op_num_threads = threads or default_threads()
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")

    providers = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and _cuda_driver_present():
        _preload_cuda_libraries(ort)
        providers.insert(0, "CUDAExecutionProvider")
    inference = ort.InferenceSession(str(model_path), options, providers=providers)
    provider = _PROVIDER_NAMES.get(inference.get_providers()[0], inference.get_providers()[0])
    if device == "cuda" and provider != "cuda":
        raise DeviceUnavailableError(
            "--device cuda was asked for, but CUDA does not run here (no NVIDIA driver, or "
            "onnxruntime-gpu could not load the CUDA/cuDNN libraries); use --device cpu or auto")
    return Session(inference, provider)


def open_model(spec: ModelSpec, device: str = "auto", threads: int | None = None) -> Session:
    """A session for ``spec`` in the graph form that suits where it runs.

    x86 CPUs get the form shaped for ONNX Runtime's blocked kernels (1.43 -> 0.86 ms a frame
    for the short model on the dev machine, the same values); CUDA and other CPUs get the
    network as converted, since there the extra zero channels would only be extra work.
    """
    cpu_form = spec.nchwc_path if platform.machine().lower() in _NCHWC_MACHINES else spec.path
    if device == "cpu" or not _cuda_driver_present():
        return create_session(cpu_form, device, threads)
    session = create_session(spec.path, device, threads)
    if session.provider == "cpu" and cpu_form != spec.path:  # CUDA did not load after all
        session = create_session(cpu_form, "cpu", threads)
    return session
