"""The streaming Gram pass: fixed blocks, float32 products summed in float64."""

from __future__ import annotations

import pytest
import torch

from panda_viz.decomposition._grams import BLOCK, accumulate_grams, fixed_blocks
from panda_viz.decomposition._validation import FeatureSource


def test_fixed_blocks_recut_any_batch_sizes():
    x = torch.arange(78.0)[:, None]
    batches = [x[:5], x[5:45], x[45:46], x[46:]]
    blocks = list(fixed_blocks(iter(batches), 32))
    assert [len(b) for b in blocks] == [32, 32, 14]
    assert torch.equal(torch.cat(blocks), x)


def _reference(Z):
    z = Z.double().flatten(2)
    return torch.einsum("ncs,nds->cd", z, z), torch.einsum("ncs,nct->st", z, z)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_grams_match_float64_sums(dtype):
    Z = torch.randn(3 * BLOCK + 7, 6, 5, 4, generator=torch.Generator().manual_seed(0)).to(dtype)
    grams = accumulate_grams(FeatureSource(Z), verbose=False)
    channel, spatial = _reference(Z)
    torch.testing.assert_close(grams.channel, channel, rtol=1e-6, atol=1e-6 * float(channel.abs().max()))
    torch.testing.assert_close(grams.spatial, spatial, rtol=1e-6, atol=1e-6 * float(spatial.abs().max()))
    assert grams.energy == pytest.approx(float((Z.double() ** 2).sum()), rel=1e-6)
    assert grams.n_samples == len(Z) and grams.dtype == dtype


def test_streamed_grams_are_bit_identical_to_in_memory():
    Z = torch.rand(2 * BLOCK + 11, 8, 4, 4, generator=torch.Generator().manual_seed(1))
    whole = accumulate_grams(FeatureSource(Z), verbose=False)
    sizes = [3, BLOCK + 1, 17, 5]
    cuts = torch.tensor(sizes).cumsum(0).tolist()
    batches = [Z[a:b] for a, b in zip([0, *cuts], [*cuts, len(Z)])]
    streamed = accumulate_grams(FeatureSource(iter(batches)), verbose=False)
    assert torch.equal(streamed.spatial, whole.spatial) and torch.equal(streamed.channel, whole.channel)
    assert streamed.energy == whole.energy
