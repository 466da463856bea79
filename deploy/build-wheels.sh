#!/bin/sh
# Build the bgtask-mcp wheel and the wheels of all its runtime dependencies into OUTDIR.
#
#   deploy/build-wheels.sh OUTDIR
#
# The Dockerfile's builder stage runs exactly this, and the final image then installs offline:
#
#   python -m pip install --no-index --find-links OUTDIR OUTDIR/bgtask_mcp-*.whl
#
# so CI can build and install the very same set without a Docker engine.
# PYTHON selects the interpreter (default: python3); the wheels fit that interpreter's
# version and platform, so build with the Python the wheels will be installed into.
# EXTRAS lists the optional features whose dependencies are built too (default: oauth,redis,otel).
set -eu

if [ "$#" -ne 1 ] || [ -z "$1" ]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi

outdir=$1
root=$(CDPATH='' cd -- "$(dirname -- "$0")/.." && pwd)
python=${PYTHON:-python3}
extras=${EXTRAS-oauth,redis,otel}

mkdir -p -- "$outdir"
rm -f -- "$outdir"/bgtask_mcp-*.whl

# 1. The project itself, built from source by its declared backend (hatchling) in an isolated env.
"$python" -m pip wheel --disable-pip-version-check --no-deps --wheel-dir "$outdir" "$root"

set -- "$outdir"/bgtask_mcp-*.whl
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
    echo "build-wheels.sh: expected exactly one bgtask_mcp wheel in $outdir" >&2
    exit 1
fi

# 2. Every runtime dependency (and those of the extras), resolved from the metadata of the wheel just built.
"$python" -m pip wheel --disable-pip-version-check --wheel-dir "$outdir" "$1${extras:+[$extras]}"

echo "build-wheels.sh: wrote $(find "$outdir" -maxdepth 1 -name '*.whl' | wc -l | tr -d ' ') wheels to $outdir"
