"""``panda-viz table2``: the PandA paper's Table 2 (ROIR, SWD, FID) on the embedded face GAN, all six methods."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..exceptions import PandaVizError
from ..metrics.inception import is_torchscript
from ..paper.evaluation import table2
from .arguments import existing_file, output_folder, positive_float, positive_int, seed


def _detector_file(text: str) -> Path:
    """--inception: an existing weights-only detector file (a TorchScript one would run code)."""
    path = existing_file(text)
    if is_torchscript(path):
        raise argparse.ArgumentTypeError(
            f"{text!r} is a TorchScript archive, which runs code when loaded; pass pytorch-fid's weights-only "
            "pt_inception-2015-12-05-6726825d.pth instead"
        )
    return path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=output_folder, default=Path("figures/table2"),
                        help="folder for table2.csv and table2.md (default: figures/table2)")
    parser.add_argument("--n-eval", type=positive_int(1_000_000), default=1000, help="evaluation samples (default: 1000)")
    parser.add_argument("--n-select", type=positive_int(1_000_000), default=32, help="selection samples (default: 32)")
    parser.add_argument("--n-candidates", type=positive_int(10_000), default=12,
                        help="candidate edits per method and region (default: 12)")
    parser.add_argument("--lowrankgan-samples", type=positive_int(1_000_000), default=16,
                        help="selection samples whose Jacobians give LowRankGAN's directions (default: 16)")
    parser.add_argument("--stylespace-samples", type=positive_int(1_000_000), default=32,
                        help="selection samples whose gradient maps score StyleSpace's channels, on style-based "
                             "generators (default: 32)")
    parser.add_argument("--layer", default="main.5", help="PandA's layer (default: main.5)")
    parser.add_argument("--target-change", type=positive_float, default=0.2,
                        help="matched in-region RMS change (default: 0.2)")
    parser.add_argument("--seed", type=seed, default=0, help="seed (default: 0)")
    parser.add_argument("--inception", type=_detector_file, default=None,
                        help="FID detector: pytorch-fid's pt_inception-2015-12-05-6726825d.pth, read as data "
                             "(never downloaded)")


def run(args: argparse.Namespace) -> int:
    try:
        result = table2(layer=args.layer, n_eval=args.n_eval, n_select=args.n_select, n_candidates=args.n_candidates,
                        lowrankgan_samples=args.lowrankgan_samples, stylespace_samples=args.stylespace_samples,
                        target_change=args.target_change, seed=args.seed, detector=args.inception, out_dir=args.out,
                        log=lambda line: print(line, flush=True))
    except (ValueError, RuntimeError, PandaVizError) as err:
        print(f"panda-viz table2: {err}", file=sys.stderr)
        return 2
    print(result.to_markdown())
    print(f"wrote {args.out / 'table2.csv'}, {args.out / 'table2.md'} and {args.out / 'table2_edits.png'}")
    return 0
