"""``panda-viz fit`` and ``render``: every count, range and timeout has a limit, checked before any
work, and the error names the option (or argument), what was asked and what is allowed."""

from __future__ import annotations

import pytest

from panda_viz import Generator
from panda_viz.commands import cli
from panda_viz.commands.fit import fit_to_files
from panda_viz.exceptions import InvalidInputError, InvalidTypeError, ResourceLimitError

FIT = ["fit", "dcgan-digiface", "--layer", "main.5", "--samples", "8", "--parts", "2", "--out", "f.npz"]
RENDER = ["render", "dcgan-digiface", "--edit", "white_lips", "--seeds", "0:2", "--out", "r"]


def _with(argv: list[str], option: str, value: str) -> list[str]:
    if option in argv:
        i = argv.index(option)
        return argv[:i + 1] + [value] + argv[i + 2:]
    return argv + [option, value]


@pytest.mark.parametrize(
    ("base", "option", "value", "message"),
    [
        (FIT, "--samples", "1000000000000", "argument --samples: expected a positive integer of at most 10,000,000; "
                                            "got 1,000,000,000,000"),
        (FIT, "--samples", "1e6", "argument --samples: expected a positive integer; got '1e6'"),
        (FIT, "--samples", "9" * 40, "argument --samples: expected a positive integer; got '999999"),
        (FIT, "--parts", "100000", "argument --parts: expected a positive integer of at most 65,536"),
        (FIT, "--appearances", "0", "argument --appearances: expected a positive integer; got 0"),
        (FIT, "--batch-size", "100000", "argument --batch-size: expected a positive integer of at most 4,096"),
        (FIT, "--max-iter", "10000000000", "argument --max-iter: expected a positive integer of at most 1,000,000"),
        (FIT, "--tol", "nan", "argument --tol: expected a number in [0, 1]; got 'nan'"),
        (FIT, "--tol", "-1", "argument --tol: expected a number in [0, 1]"),
        (FIT, "--out", "", "argument --out: expected a file name; got ''"),
        (FIT, "--seed", "1e30", "argument --seed: expected a whole number in [0, 9223372036854775807]; got '1e30'"),
        (FIT, "--timeout", "1e30", "argument --timeout: expected a number in (0, 604800]; got '1e30'"),
        (RENDER, "--batch-size", "100000", "argument --batch-size: expected a positive integer of at most 4,096"),
        (RENDER, "--out", "", "argument --out: expected a folder; got ''"),
        (RENDER, "--out", "   ", "argument --out: expected a folder"),
        (RENDER, "--rendezvous-timeout", "-1", "argument --rendezvous-timeout: expected a number in (0, 604800]"),
    ],
)
def test_options_past_their_limits_are_refused_by_argparse(tmp_path, monkeypatch, capsys, base, option, value, message):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as info:
        cli.main(_with(base, option, value))
    assert info.value.code == 2 and message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("value", "message"),
    [("1e30", "--alpha must be a number in [-10000.0, 10000.0]; got 1e+30"),
     ("nan", "--alpha must be a finite number; got nan")],
)
def test_render_alpha_is_bounded(tmp_path, capsys, value, message):
    out = tmp_path / "r"
    assert cli.main(_with(_with(RENDER, "--out", str(out)), "--alpha", value)) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("seeds", "message"),
    [("0:1000000000", "--seeds 0:1000000000 asks for 1,000,000,000 seeds; one render makes at most 500,000 images"),
     ("0:1e30", "--seeds must be A:B with integers 0 <= A < B"),
     (f"0:{10**30}", "--seeds must be A:B")],
)
def test_render_seed_ranges_are_refused_before_the_generator_loads(tmp_path, capsys, seeds, message):
    out = tmp_path / "r"
    assert cli.main(_with(_with(RENDER, "--out", str(out)), "--seeds", seeds)) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n_samples": 10**12}, InvalidInputError, r"fit_to_files: n_samples must be an int in \[1, 10000000\]"),
        ({"n_samples": 8.0}, InvalidTypeError, "fit_to_files: n_samples must be an int; got float"),
        ({"n_parts": 10**6}, InvalidInputError, r"fit_to_files: n_parts must be an int in \[1, 65536\]"),
        ({"seed": -1}, InvalidInputError, "fit_to_files: seed must be an int"),
        ({"seed": "abc"}, InvalidTypeError, "fit_to_files: seed must be an int; got str 'abc'"),
        ({"max_iter": 0}, InvalidInputError, "fit_to_files: max_iter"),
        ({"tol": float("nan")}, ValueError, "fit_to_files: tol must be a finite number"),
        ({"batch_size": 10**5}, InvalidInputError, r"fit_to_files: batch_size must be an int in \[1, 4096\]"),
        ({"out": ""}, InvalidInputError, "--out must name an .npz file"),
        ({"out": "f.txt"}, InvalidInputError, "--out must name an .npz file"),
    ],
)
def test_fit_to_files_checks_every_argument_before_any_sample(dcgan, tmp_path, kwargs, error, match):
    args = {"n_samples": 8, "n_parts": 2, "out": tmp_path / "f.npz", **kwargs}
    with pytest.raises(error, match=match):
        fit_to_files(dcgan, "main.5", **args)
    assert list(tmp_path.iterdir()) == []


def test_fit_batch_past_the_memory_budget_is_refused_with_what_fits(dcgan, tmp_path):
    small = Generator(dcgan.module, dcgan.latent_shape, name=dcgan.name, memory_budget=2**20)
    fits = small.batch_size_for("main.5", at_most=4096)
    with pytest.raises(ResourceLimitError, match=rf"{fits + 1:,} samples per forward pass do not fit .*\(at most {fits:,} do\)"):
        fit_to_files(small, "main.5", n_samples=8, n_parts=2, out=tmp_path / "f.npz", batch_size=fits + 1)
    assert list(tmp_path.iterdir()) == []
