"""Fits, thresholds and renderings across processes (Gloo on 127.0.0.1) equal the single-process ones.

The multi-process tests spawn two fresh processes (tests/distributed_ranks.py), each
bounded in time, with the real embedded DCGAN and few samples.
"""

from __future__ import annotations

import json
import os
import signal
import time

import pytest
import torch
from distributed_ranks import run_ranks

import panda_viz
from panda_viz.commands.cli import main as cli_main
from panda_viz.commands.render import RenderJob, parse_seeds, render_edits
from panda_viz.decomposition import _grams, fit_generator
from panda_viz.editing.saliency import saliency_thresholds
from panda_viz.exceptions import DistributedError, InvalidInputError, InvalidTypeError
from panda_viz.generators import FeatureStream, stream
from panda_viz.runtime import distributed

LAYER = "main.5"
FIT = dict(n_samples=200, seed=3, batch_size=40, progress=False)  # 2 shard units of 160 and 40 samples
PARAMS = dict(n_parts=4, n_appearances=32, tol=1e-4, random_state=0)  # exercises the Gram and alternation passes
EDITS = ["white_lips", "dark_moustache"]
SEEDS = range(5, 30)


# ------------------------------------------------------------------ sharding arithmetic
def test_unit_boundaries_start_both_a_batch_and_a_block():
    assert distributed.unit_boundaries(200, 40, block=32) == [0, 160, 200]
    assert distributed.unit_boundaries(100, 128, block=32) == [0, 100]
    assert distributed.unit_boundaries(100, 16, block=32) == [0, 32, 64, 96, 100]
    # batches restart at each latent chunk: 10 = 2 chunks of 6 and 4 with batches of 4
    assert distributed.unit_boundaries(10, 4, block=2, latent_chunk=6) == [0, 4, 6, 10]


def test_shard_ranges_are_contiguous_disjoint_and_cover_everything():
    bounds = distributed.unit_boundaries(1000, 32, block=32)
    for size in (1, 2, 3, 7, 32):
        ranges = [distributed.shard_range(bounds, r, size) for r in range(size)]
        assert ranges[0][0] == 0 and ranges[-1][1] == 1000
        assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
        lengths = [b - a for a, b in ranges]
        assert max(lengths) - min(lengths) <= 2 * 32 and min(lengths) > 0  # unit counts differ by <= 1; the last unit is short


def test_more_ranks_than_batches_is_refused():
    with pytest.raises(DistributedError, match=r"world size 3 is larger than the number of batches .*\(2: 200 samples"):
        distributed.shard_range([0, 160, 200], 0, 3)


def test_stream_block_is_the_gram_block():
    assert stream.BLOCK == _grams.BLOCK


def test_outside_a_group_everything_is_local(dcgan):
    assert distributed.world() == distributed.World(0, 1, None) and not distributed.is_active()
    assert distributed.agree(lambda: 7, "x") == 7
    with pytest.raises(ValueError, match="boom"):  # the error itself, not a DistributedError
        distributed.agree(lambda: (_ for _ in ()).throw(ValueError("boom")), "x")
    t = torch.ones(2)
    assert distributed.LOCAL.sum(lambda: (t, 3), "x") == (t, 3)
    assert distributed.LOCAL.broadcast(t)[0] is t
    s = FeatureStream(dcgan, LAYER, n_samples=10, seed=0, batch_size=4)
    assert (s.start, s.stop, s.across_ranks) == (0, 10, False)
    assert distributed.reducer_for(s) is distributed.LOCAL and distributed.reducer_for(torch.zeros(1)) is distributed.LOCAL


def test_feature_stream_is_the_seeded_features(dcgan):
    s = FeatureStream(dcgan, LAYER, n_samples=10, seed=4, batch_size=4)
    batches = list(s)
    assert [len(b) for b in batches] == [4, 4, 2] and s.passes == 1
    assert torch.equal(torch.cat(batches), dcgan.features(dcgan.sample_latents(10, seed=4), LAYER, batch_size=4))
    with pytest.raises(InvalidInputError, match=r"batch_size must be an int in \[1, inf\]; got 0"):
        FeatureStream(dcgan, LAYER, n_samples=10, batch_size=0)
    with pytest.raises(InvalidInputError, match=r"seed must be an int in \[0, 9223372036854775807\]; got -1"):
        FeatureStream(dcgan, LAYER, n_samples=10, seed=-1)
    with pytest.raises(InvalidTypeError, match="n_samples must be an int; got float 10.0"):
        FeatureStream(dcgan, LAYER, n_samples=10.0)
    with pytest.raises(ValueError, match="layer 'main.55' not found"):
        FeatureStream(dcgan, "main.55", n_samples=10)


def test_parse_seeds():
    assert parse_seeds("3:7") == range(3, 7)
    for bad in ("7:3", "3", "a:b", "-1:4", "4:4"):
        with pytest.raises(InvalidInputError, match="--seeds must be A:B"):
            parse_seeds(bad)


# --------------------------------------------------------------- two ranks vs one process
def _jobs(G):
    zoo = panda_viz.load_edit_zoo(G.name)
    return [RenderJob("original")] + [RenderJob(n, zoo=zoo, edit=n, model=zoo.load_model(n, G)) for n in EDITS]


def _everything_worker(rank, out):
    G = panda_viz.load_generator("dcgan-digiface")
    model = fit_generator(G, LAYER, **FIT, **PARAMS)
    mu = saliency_thresholds(model, FeatureStream(G, LAYER, n_samples=FIT["n_samples"], seed=9, batch_size=40))
    render_edits(G, _jobs(G), SEEDS, out / "renders", batch_size=4, progress=False)
    return {"parts": model.parts_, "appearances": model.appearances_, "objective": model.objective_,
            "n_samples": model.n_samples_, "mu": mu, "world": distributed.world()}


def _read_tree(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_two_ranks_fit_threshold_and_render_as_one_process(dcgan, tmp_path):
    results, codes = run_ranks(_everything_worker, 2, tmp_path / "ranks")
    assert codes == [0, 0], results
    assert [r[0] for r in results] == ["ok", "ok"], results
    r0, r1 = results[0][1], results[1][1]
    assert r0["world"] == distributed.World(0, 2, "gloo")

    model = fit_generator(dcgan, LAYER, **FIT, **PARAMS)
    for r in (r0, r1):  # every rank holds the single-process model
        assert r["n_samples"] == 200
        torch.testing.assert_close(r["parts"], model.parts_, rtol=0, atol=1e-6)
        torch.testing.assert_close(r["appearances"], model.appearances_, rtol=0, atol=1e-6)
        assert r["objective"] == pytest.approx(model.objective_, rel=1e-9, abs=1e-12)
    assert torch.equal(r0["parts"], r1["parts"]) and torch.equal(r0["appearances"], r1["appearances"])

    mu = saliency_thresholds(model, dcgan.iter_features(dcgan.sample_latents(200, seed=9), LAYER, batch_size=40))
    mu_ranks = [r["mu"] for r in (r0, r1)]
    assert torch.equal(mu_ranks[0], mu_ranks[1])
    # r0's thresholds were computed with r0's factors; the same factors give exactly these:
    mu_same = saliency_thresholds(r0_model(r0, model), dcgan.iter_features(dcgan.sample_latents(200, seed=9), LAYER, batch_size=40))
    torch.testing.assert_close(mu_ranks[0], mu_same, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(mu_ranks[0], mu, rtol=1e-5, atol=1e-5)

    single = tmp_path / "single"
    manifest = render_edits(dcgan, _jobs(dcgan), SEEDS, single, batch_size=4, progress=False)
    two, one = _read_tree(tmp_path / "ranks" / "renders"), _read_tree(single)
    assert set(two) == set(one) and len(one) == 3 * len(SEEDS) + 1
    assert all(two[f] == one[f] for f in one if f != "manifest.json")
    m2 = json.loads(two["manifest.json"])
    assert m2["files"] == manifest["files"] and m2["world_size"] == 2 and m2["n_written"] == 3 * len(SEEDS)


def r0_model(r, like):
    """A PandA carrying rank 0's factors (for thresholds computed with exactly them)."""
    m = panda_viz.PandA(n_parts=like.n_parts_)
    m.parts_, m.appearances_, m.feature_shape_ = r["parts"], r["appearances"], like.feature_shape_
    return m


# ------------------------------------------------------------------------- failures
def _failing_worker(rank, out, die_after):
    base = panda_viz.load_generator("dcgan-digiface")
    seen = {"bad_layer": None}
    try:
        fit_generator(base, "main.55", n_samples=64, batch_size=32, progress=False)
    except DistributedError as err:
        seen["bad_layer"] = str(err)
    calls = [0]

    def forward(module, latents):
        calls[0] += 1
        if rank == 1 and calls[0] > die_after:
            os.kill(os.getpid(), signal.SIGKILL)  # a rank killed mid-run
        return module(latents)

    G = panda_viz.Generator(base.module, base.latent_shape, name=base.name, forward=forward)
    G.layers  # the probe pass (one call)
    start = time.monotonic()
    try:
        fit_generator(G, LAYER, n_samples=128, batch_size=32, progress=False, n_parts=3, n_appearances=16, random_state=0)
    except DistributedError as err:
        seen["killed"] = (str(err), time.monotonic() - start)
    return seen


def test_a_bad_layer_fails_every_rank_and_a_killed_rank_fails_the_others(tmp_path):
    results, codes = run_ranks(_failing_worker, 2, tmp_path, 3, group_timeout=30.0, timeout=180.0)
    assert codes[1] == -signal.SIGKILL and results[1] is None  # rank 1 died without a word
    assert results[0][0] == "ok", results[0]
    seen = results[0][1]
    assert "fit_generator's argument checks failed on 2 of 2 ranks (this is rank 0): ranks 0, 1 failed: " in seen["bad_layer"]
    assert "layer 'main.55' not found" in seen["bad_layer"]
    message, seconds = seen["killed"]
    assert message.startswith("rank 0 of 2: ") and "another rank died, failed or did not answer" in message, message
    assert seconds < 60


# ---------------------------------------------------------------------- resume and CLI
def test_render_resumes_skipping_finished_files(dcgan, tmp_path):
    zoo = panda_viz.load_edit_zoo(dcgan.name)
    jobs = [RenderJob("white_lips", zoo=zoo, edit="white_lips", model=zoo.load_model("white_lips", dcgan))]
    first = render_edits(dcgan, jobs, range(0, 6), tmp_path, batch_size=4, progress=False)
    assert first["n_written"] == 6 and first["n_files"] == 6
    before = _read_tree(tmp_path)
    gone = tmp_path / "white_lips" / "00000001.png"
    gone.unlink()
    kept = tmp_path / "white_lips" / "00000005.png"
    stamp = kept.stat().st_mtime_ns
    again = render_edits(dcgan, jobs, range(0, 6), tmp_path, batch_size=4, progress=False)
    assert [f["seed"] for f in again["files"] if f["written"]] == [1]
    assert kept.stat().st_mtime_ns == stamp  # its batch was complete: not even rendered
    after = _read_tree(tmp_path)
    assert all(after[f] == before[f] for f in before if f != "manifest.json")


def test_fit_command_writes_factors_and_report(tmp_path, capsys):
    out = tmp_path / "f.npz"
    code = cli_main(["fit", "dcgan-digiface", "--layer", LAYER, "--samples", "64", "--parts", "3", "--seed", "2",
                     "--out", str(out), "--no-progress"])
    assert code == 0
    report = json.loads((tmp_path / "f.report.json").read_text())
    assert report == json.loads(capsys.readouterr().out)
    model = panda_viz.load_factors(out)
    reference = fit_generator(panda_viz.load_generator("dcgan-digiface"), LAYER, n_samples=64, seed=2, progress=False,
                              n_parts=3, random_state=2)
    assert torch.equal(model.parts_, reference.parts_) and report["objective"] == reference.objective_
    assert report["n_samples"] == 64 and report["world_size"] == 1 and report["samples_per_second"] > 0


@pytest.mark.parametrize("argv, message", [
    (["fit", "dcgan-digiface", "--layer", "main.55", "--samples", "8", "--parts", "2", "--out", "{tmp}/f.npz"], "layer 'main.55' not found"),
    (["fit", "dcgan-digiface", "--layer", LAYER, "--samples", "8", "--parts", "2", "--out", "{tmp}/f.txt"], "--out must name an .npz file"),
    (["fit", "dcgan-digiface", "--layer", LAYER, "--samples", "8", "--parts", "2", "--out", "{tmp}/f.npz", "--device", "tpu:x"], "--device: 'tpu:x' is not a device"),
    (["render", "dcgan-digiface", "--edit", "nope", "--seeds", "0:2", "--out", "{tmp}/r"], "unknown edit 'nope'"),
    (["render", "dcgan-digiface", "--seeds", "0:2", "--out", "{tmp}/r"], "name the edits"),
    (["render", "dcgan-digiface", "--edit", "white_lips", "--seeds", "2:1", "--out", "{tmp}/r"], "--seeds must be A:B"),
])
def test_commands_refuse_bad_input_and_write_nothing(tmp_path, capsys, argv, message):
    assert cli_main([a.format(tmp=tmp_path) for a in argv]) == 1
    assert message in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
