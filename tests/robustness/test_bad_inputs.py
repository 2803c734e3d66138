"""Bad values at the public API and on the command line: a clear error (or a NonFiniteWarning) naming
the argument, never a deep IndexError/ZeroDivisionError or silently NaN images."""

from __future__ import annotations

import subprocess
import sys
import time
import warnings

import pytest
import torch
from torch import nn

import panda_viz
from panda_viz import PandA
from panda_viz.commands import cli
from panda_viz.editing.edits import EditTerm, edit_images, local_edit
from panda_viz.editing.removal import removal_edit
from panda_viz.exceptions import (
    InvalidInputError,
    InvalidTypeError,
    NonFiniteError,
    NonFiniteWarning,
)

from .bounded import REPO


@pytest.fixture(scope="module")
def fitted(dcgan):
    z = dcgan.sample_latents(16, seed=0)
    return PandA(4, random_state=0).fit(dcgan.features(z, "main.5"), layer="main.5", generator_name=dcgan.name)


# ------------------------------------------------------------------------------ latents
@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_latents_are_refused_naming_the_samples(dcgan, value):
    z = dcgan.sample_latents(4, seed=0)
    z[2, 5] = value
    for call in (dcgan.synthesize, lambda z: dcgan.features(z, "main.5")):
        with pytest.raises(NonFiniteError, match=r"latents hold NaN or infinite values in sample\(s\) 2 of 4"):
            call(z)


def test_float64_latents_are_cast_to_the_generator_dtype(dcgan):
    z = dcgan.sample_latents(3, seed=1)
    assert torch.equal(dcgan.synthesize(z.double()), dcgan.synthesize(z))
    assert dcgan.features(z.double(), "main.5").dtype == torch.float32


@pytest.mark.parametrize(
    ("latents", "error", "match"),
    [
        (torch.zeros(2, 100, 1, 1, dtype=torch.int64), InvalidTypeError, "latents must be a floating-point tensor .* got dtype torch.int64"),
        (torch.zeros(2, 100, 1, 1, dtype=torch.bool), InvalidTypeError, "floating-point"),
        ([[0.0] * 100], InvalidTypeError, r"latents must be a torch.Tensor of shape \(N, 100, 1, 1\); got list"),
        (torch.zeros(2, 99), InvalidInputError, r"latents of shape \(N, 100, 1, 1\) expected .* got \(2, 99\)"),
        (torch.zeros(0, 100), InvalidInputError, r"got \(0, 100\)"),
    ],
)
def test_latents_of_the_wrong_kind(dcgan, latents, error, match):
    with pytest.raises(error, match=match):
        dcgan.synthesize(latents)


# ------------------------------------------------------------------------------ weights
def test_nan_weights_warn_at_load_and_at_synthesis():
    module = nn.Sequential(nn.ConvTranspose2d(4, 3, 4), nn.Tanh())
    with torch.no_grad():
        module[0].weight[0, 0, 0, 0] = float("nan")
    with pytest.warns(NonFiniteWarning, match=r"generator 'Sequential' has NaN or infinite weights in 1 tensors \(0.weight\)"):
        G = panda_viz.Generator(module, (4, 1, 1))
    with pytest.warns(NonFiniteWarning, match="synthesize: 2 of 2 outputs hold NaN or infinite values"):
        G.synthesize(torch.ones(2, 4, 1, 1))


def test_finite_weights_do_not_warn(dcgan):
    with warnings.catch_warnings():
        warnings.simplefilter("error", NonFiniteWarning)
        panda_viz.Generator(dcgan.module, dcgan.latent_shape)
        dcgan.synthesize(dcgan.sample_latents(2, seed=0))


# ------------------------------------------------------------------------------ alpha
@pytest.mark.parametrize(
    ("alpha", "error", "match"),
    [
        (1e308, NonFiniteError, r"the edit term part 0 × appearance 1, α = \+1e\+308 overflows torch.float32"),
        (-1e300, NonFiniteError, "overflows"),
        (float("nan"), NonFiniteError, "EditTerm.alpha must be a finite number; got nan"),
        (float("inf"), NonFiniteError, "EditTerm.alpha must be a finite number; got inf"),
        ("2", InvalidTypeError, "EditTerm.alpha must be a real number; got str '2'"),
        (None, InvalidTypeError, "EditTerm.alpha must be a real number; got NoneType"),
    ],
)
def test_bad_alpha_never_gives_nan_images(dcgan, fitted, alpha, error, match):
    z = dcgan.sample_latents(2, seed=0)
    with pytest.raises(error, match=match):
        edit_images(dcgan, z, fitted, [(0, 1, alpha)])
    with pytest.raises(error, match=match):
        local_edit(fitted, EditTerm(0, 1, alpha) if error is NonFiniteError and alpha > 1e200 else (0, 1, alpha))


@pytest.mark.parametrize(
    ("alpha", "error", "match"),
    [
        (1e308, NonFiniteError, r"alpha must be finite \(in torch.float32\); got 1e\+308"),
        (float("nan"), NonFiniteError, "alpha must be finite"),
        ("a", InvalidTypeError, "alpha must be a number or a tensor"),
        (torch.ones(5), InvalidInputError, r"alpha must be one number or one per sample \(2\); got 5 values"),
    ],
)
def test_bad_removal_alpha(dcgan, fitted, alpha, error, match):
    Z = dcgan.features(dcgan.sample_latents(2, seed=0), "main.5")
    for method in ("add", "replace"):
        with pytest.raises(error, match=match):
            removal_edit(fitted, Z, 0, 1, alpha=alpha, method=method)


# ------------------------------------------------------------------------------ PandA.fit
@pytest.mark.parametrize("solver", ["projective", "pgd", "adam"])
def test_all_zero_features_a_dead_relu_layer(solver):
    Z = torch.zeros(5, 8, 4, 4)
    with pytest.raises(InvalidInputError, match=r"features are all zero \(5 samples of shape \(8, 4, 4\)\).*dead|inactive"):
        PandA(3, solver=solver, max_iter=5).fit(Z)
    with pytest.raises(InvalidInputError, match="features are all zero"):
        PandA(3, solver=solver, max_iter=5).fit([Z[:2], Z[2:]])


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"n_parts": 0}, InvalidInputError, r"n_parts must be an int in \[1, inf\]; got 0"),
        ({"n_parts": 2.5}, InvalidTypeError, "n_parts must be an int; got float 2.5"),
        ({"n_parts": 17}, InvalidInputError, r"n_parts must be in \[1, S\] with S = H\*W = 4\*4 = 16 spatial positions; got 17"),
        ({"n_appearances": 9}, InvalidInputError, r"n_appearances must be in \[1, C\] with C = 8 channels; got 9"),
        ({"tol": float("nan")}, NonFiniteError, "tol must be a finite number; got nan"),
        ({"solver": "sgd"}, InvalidInputError, r"Invalid solver: got 'sgd' instead of one of"),
    ],
)
def test_bad_ranks_and_parameters(params, error, match):
    Z = torch.rand(5, 8, 4, 4)
    with pytest.raises(error, match=match):
        PandA(**{"n_parts": 3, **params}).fit(Z)


@pytest.mark.parametrize(
    ("Z", "error", "match"),
    [
        (torch.full((2, 8, 4, 4), float("nan")), NonFiniteError, r"features contain NaN values in sample\(s\) 0, 1"),
        (torch.zeros(2, 8, 4, 4, dtype=torch.int32), InvalidTypeError, "features must be a floating-point tensor"),
        (torch.zeros(8, 4, 4), InvalidInputError, r"features must be 4-D \(N, C, H, W\); got a 3-D tensor"),
        ("Z", InvalidTypeError, "features must be a torch.Tensor"),
    ],
)
def test_bad_features(Z, error, match):
    with pytest.raises(error, match=match):
        PandA(2).fit(Z)


# ------------------------------------------------------------------------------ the command line
@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["demo", "--seed", "1e23"], "argument --seed: expected a whole number in [0, 9223372036854775807]; got '1e23'"),
        (["demo", "--seed", str(10**23)], f"argument --seed: expected a whole number in [0, 9223372036854775807]; got {10**23}"),
        (["demo", "--seed", "-1"], "got -1"),
        (["demo", "--n-samples", "0"], "argument --n-samples: expected a positive integer; got 0"),
        (["demo", "--n-samples", "10000000000"], "argument --n-samples: expected a positive integer of at most 1,000,000"),
        (["table2", "--target-change", "inf"], "argument --target-change: expected a finite number > 0; got 'inf'"),
        (["table2", "--seed", "x"], "argument --seed: expected a whole number"),
        (["table2", "--n-eval", "-5"], "argument --n-eval: expected a positive integer; got -5"),
    ],
)
def test_bad_arguments_are_refused_by_argparse(capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


def test_out_naming_an_existing_file_is_refused_up_front(tmp_path, capsys):
    existing = tmp_path / "figures.png"
    existing.write_bytes(b"keep me")
    for out, message in ((existing, "is an existing file, not a folder"), (existing / "sub", "is a file")):
        with pytest.raises(SystemExit):
            cli.main(["demo", "--out", str(out)])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["table2", "--out", str(existing)])
    assert "argument --out" in capsys.readouterr().err
    assert existing.read_bytes() == b"keep me"


def test_table2_refuses_a_torchscript_or_missing_detector_up_front(tmp_path, capsys):
    scripted = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(nn.Identity()), str(scripted))
    for path, message in ((scripted, "is a TorchScript archive, which runs code when loaded"),
                          (tmp_path / "none.pth", "is not an existing file")):
        with pytest.raises(SystemExit):
            cli.main(["table2", "--inception", str(path)])
        assert message in capsys.readouterr().err


def test_the_installed_command_refuses_before_any_work(tmp_path):
    existing = tmp_path / "file"
    existing.write_text("x")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "panda_viz.commands.cli", "demo", "--out", str(existing), "--seed", "1e23"],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert done.returncode == 2 and "usage: panda-viz demo" in done.stderr and "Traceback" not in done.stderr
    assert time.perf_counter() - start < 60  # the import alone; the demo's 15 s of work never starts
