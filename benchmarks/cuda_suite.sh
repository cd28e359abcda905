#!/usr/bin/env bash
# Every CUDA check and benchmark in one go, for a machine with an NVIDIA GPU and onnxruntime-gpu:
# the CUDA tests, `detect` end to end next to decode-only on every clip (one pipeline, then
# --workers 2, 4 and 8, and two segment threads), the pipeline ladder (by sampler threads and
# batch size) and per-thread profile on the first clip, inference alone by form and batch, then
# the whole test suite (--device auto picks CUDA there). Most telling first, in case time runs out.
#
#   benchmarks/cuda_suite.sh OUT_DIR CLIP [CLIP ...]   # EXTRA_FORMS="--extra-form f16.onnx" adds forms
#   STEPS="cuda_tests detect" benchmarks/cuda_suite.sh ...   # only these steps
#
# Each step runs even when one before it failed; logs and JSON land in OUT_DIR, the end of each
# log on stdout. On the H200 machine (16 cores) the steps took: CUDA tests 85 s (each new
# session pays CUDA and cuDNN start-up), inference 167 s, ladder 21 s (with 4 fewer rungs), profile
# under 15 s; in an earlier run, detect on four 60 s clips 119 s and the whole suite 35 s.
set -u
out=${1:?usage: cuda_suite.sh OUT_DIR CLIP [CLIP ...]}
shift
first=${1:?at least one clip}
mkdir -p "$out"
export PYTHONUNBUFFERED=1
python=${PYTHON:-python3}

step() {
    local name=$1 started=$SECONDS rc
    shift
    [[ " ${STEPS:-cuda_tests detect ladder profile inference all_tests} " == *" $name "* ]] || return 0
    echo "== $name"
    "$@" >"$out/$name.log" 2>&1
    rc=$?
    echo "   exit $rc after $((SECONDS - started)) s"
    tail -n "${TAIL:-14}" "$out/$name.log"
}

step cuda_tests "$python" -m pytest -q -rs -p no:cacheprovider tests/test_cuda.py
step detect "$python" benchmarks/bench_detect.py "$@" --variants "--workers 2" "--workers 4" \
    "--workers 8" "--segment-threads 2" "--model full --tiles auto" \
    "--model full --tiles auto --workers 4" --out "$out/bench_detect.json"
step ladder "$python" benchmarks/pipeline_ladder.py "$first" --samplers 1 4 8 --job-samplers 4 8 \
    --job-batches 8 64 --out "$out/ladder.json"
step profile "$python" benchmarks/profile_detect.py "$first" --device cuda --out "$out/profile.json"
# shellcheck disable=SC2086 # EXTRA_FORMS is a list of arguments
step inference "$python" benchmarks/bench_inference.py --seconds "${SECONDS_PER_ROW:-0.5}" \
    --batches 8 64 256 1024 4096 --out "$out/bench_inference.json" ${EXTRA_FORMS:-}
step all_tests timeout 120 "$python" -m pytest -q -p no:cacheprovider -n "${TEST_WORKERS:-8}"
