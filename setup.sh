#!/usr/bin/env bash
# One-step set-up: a virtual environment in .venv with every dependency, the embedded
# generator included. Safe to run again (it only installs what is missing or changed).
#
#   bash setup.sh            # the library, its tests' tools and the embedded face GAN
#   PYTHON=python3.12 bash setup.sh
#   TORCH_SPEC="torch==2.13.0" bash setup.sh   # another torch build, e.g. a CUDA one
set -euo pipefail
cd "$(dirname "$0")"

PYTHON="${PYTHON:-python3}"
# torch first and pinned: on these machines 2.13.0 resolves to the CPU wheel on disk; a
# looser request would let pip fetch the newest CUDA build (gigabytes).
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"

if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
pip() { .venv/bin/python -m pip --disable-pip-version-check -q "$@"; }
# After an install pip checks the installed packages' declared requirements and prints
# "ERROR: pip's dependency resolver ... gan-face-generate 1.1.1 requires torchvision>=0.16.0,
# which is not installed" (and wandb[media]). Expected: gan-face-generate is installed with
# --no-deps below and loads without them. This filter drops exactly those two lines (and the
# resolver's header when nothing else follows it), prints a note saying why, and passes
# every other line through unchanged.
expected_conflicts_only() {
    awk '
        /^ERROR: pip.s dependency resolver does not currently take into account/ { header = $0; next }
        /^gan-face-generate 1\.1\.1 requires (torchvision|wandb)/ { dropped = 1; next }
        { if (header != "") { print header; header = "" } print }
        END {
            if (header != "" && !dropped) print header
            if (dropped) print "note: pip says gan-face-generate 1.1.1 requires torchvision/wandb: expected, it is installed with --no-deps and needs neither to load"
        }'
}

pip install "$TORCH_SPEC"
# The embedded DigiFace-1M DCGAN. --no-deps: its declared dependencies pull torchvision,
# wandb and a CUDA torch, none of which it needs to be loaded.
{ pip install --no-deps "gan-face-generate==1.1.1" 2>&1 1>&3 3>&- | expected_conflicts_only >&2; } 3>&1
# [docs]: MkDocs and its plugins, for the documentation site (tests/test_docs.py builds it).
# [biggan]: pytorch-pretrained-biggan and what its import needs (boto3, requests, scipy);
# its unpinned torch requirement is met by the torch installed above.
# stderr through the filter above (stdout untouched); pipefail keeps pip's exit status
{ pip install -e ".[test,biggan,docs]" 2>&1 1>&3 3>&- | expected_conflicts_only >&2; } 3>&1

.venv/bin/python - <<'PY'
import torch, panda_viz
print(f"panda_viz {panda_viz.__version__} ready: torch {torch.__version__}, "
      f"CUDA {'available' if torch.cuda.is_available() else 'not available'}; "
      f"run .venv/bin/panda-viz --help")
PY
