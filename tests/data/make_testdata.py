"""Rebuild ``tests/data/`` from the full reference test vectors (a maintainer's tool; no test runs it).

    python tests/data/make_testdata.py [SOURCE]     # SOURCE default: ../shared/testvectors

``SOURCE`` holds one folder per generator (``stylegan2/``, ``stylegan3-t/``, …), each with
``config.json``, the weights (``G_ema_state_dict.pt`` or ``checkpoint.pth``) and
``vectors.pt``; see ``README.md`` here for what they are and where they came from. This
script copies the configs and the weights byte for byte and writes a trimmed
``vectors.pt``, so the test data stays under :data:`BUDGET_BYTES`:

- every entry that is not a feature record (``z``, ``ws_*``, ``wp_*``, ``img_*``) is kept whole;
- each feature record ``features_psi1/<layer>`` keeps only the first sample, shape (1, C, H, W);
- for StyleGAN3, whose feature maps carry wide margins, only the layers in
  :data:`STYLEGAN3_FEATURES` keep their records (the tests read those and no others).

Everything is written through ``torch.save`` of plain tensors, so
``torch.load(path, weights_only=True)`` reads it; the output is byte-for-byte reproducible.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
DEFAULT_SOURCE = HERE.parents[2] / "shared" / "testvectors"  # the checkout's sibling, on the maintainers' machine
FOLDERS = ["stylegan2", "stylegan3-t", "stylegan3-r", "genforce-pggan", "genforce-stylegan", "genforce-stylegan2"]
WEIGHTS = {"stylegan2": "G_ema_state_dict.pt", "stylegan3-t": "G_ema_state_dict.pt", "stylegan3-r": "G_ema_state_dict.pt",
           "genforce-pggan": "checkpoint.pth", "genforce-stylegan": "checkpoint.pth", "genforce-stylegan2": "checkpoint.pth"}
#: StyleGAN3 layers (indices into the config's ``hooked_layers``) whose feature records are kept:
#: the third (``synthesize_from`` starts there) and the last for both; the first also for -T,
#: whose 64-channel maps are half the size of -R's (R's first layer alone would be 0.66 MB).
STYLEGAN3_FEATURES = {"stylegan3-t": (0, 2, -1), "stylegan3-r": (2, -1)}
FEATURES = "features_psi1/"
BUDGET_BYTES = 12_000_000  # the whole of tests/data/, README and this script included


def trimmed_vectors(name: str, vectors: dict[str, torch.Tensor], hooked_layers: list[str]) -> dict[str, torch.Tensor]:
    """``vectors`` with feature records cut to the first sample (and, for StyleGAN3, to a few layers)."""
    keep_layers = None
    if name in STYLEGAN3_FEATURES:
        keep_layers = {hooked_layers[i] for i in STYLEGAN3_FEATURES[name]}
    out: dict[str, torch.Tensor] = {}
    for key, tensor in vectors.items():
        if not key.startswith(FEATURES):
            out[key] = tensor
        elif keep_layers is None or key[len(FEATURES):] in keep_layers:
            out[key] = tensor[:1].clone()  # clone: a view would save the whole storage
    return out


def main(argv: list[str]) -> int:
    import json

    source = Path(argv[0]) if argv else DEFAULT_SOURCE
    if not (source / "README.md").is_file():
        print(f"make_testdata: no test vectors in {str(source)!r} (expected README.md and {', '.join(FOLDERS)})",
              file=sys.stderr)
        return 2
    for name in FOLDERS:
        src, dst = source / name, HERE / name
        dst.mkdir(exist_ok=True)
        for file in ("config.json", WEIGHTS[name]):
            shutil.copyfile(src / file, dst / file)
        config = json.loads((src / "config.json").read_text())
        vectors = torch.load(src / "vectors.pt", weights_only=True)
        torch.save(trimmed_vectors(name, vectors, config["hooked_layers"]), dst / "vectors.pt")
        torch.load(dst / "vectors.pt", weights_only=True)  # readable without running code
        sizes = {p.name: p.stat().st_size for p in sorted(dst.iterdir())}
        print(f"{name:20s} " + "  ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    total = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"tests/data: {total / 1e6:.2f} MB (budget {BUDGET_BYTES / 1e6:.0f} MB)")
    return 0 if total <= BUDGET_BYTES else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
