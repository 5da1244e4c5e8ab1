# Sourced by the device scripts: strict mode, the output folder ($OUT, default ./device-out), offline settings,
# and the wheels the device image lacks (.whl, installed into /tmp/site when carried).
set -uo pipefail
OUT=${OUT:-device-out}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=$PWD/src:/tmp/site
fi
nvidia-smi -L
