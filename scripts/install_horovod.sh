#!/bin/sh
# Build and install Horovod 0.28.1 (TensorFlow + Gloo, no MPI) into a virtualenv that already has
# mlc's `train` extra (TensorFlow 2.15). Horovod publishes no wheels: it compiles against the
# installed TensorFlow (about 4 minutes on 2 cores; needs cmake and a C++ compiler), hence
# --no-build-isolation. Does nothing when a working Horovod is already there.
#
#   sh scripts/install_horovod.sh [VENV]      (default: .venv)
set -eu
venv="${1:-.venv}"
python="$venv/bin/python"
if "$python" -c "import horovod.tensorflow as hvd; assert hvd.gloo_built()" >/dev/null 2>&1; then
    echo "horovod: already installed in $venv"
    exit 0
fi
for tool in cmake g++ make; do
    command -v "$tool" >/dev/null 2>&1 || { echo "horovod: \`$tool\` is missing (apt-get install cmake g++ make)" >&2; exit 1; }
done
HOROVOD_WITH_TENSORFLOW=1 HOROVOD_WITH_GLOO=1 HOROVOD_WITHOUT_MPI=1 \
HOROVOD_WITHOUT_PYTORCH=1 HOROVOD_WITHOUT_MXNET=1 \
    "$python" -m pip install -q --no-build-isolation --no-cache-dir "horovod==0.28.1"
"$python" -c "import horovod.tensorflow as hvd; assert hvd.gloo_built(); print('horovod: built with Gloo')"
