"""Plain-PyTorch versions of the low-level operations of NVlabs' StyleGAN2/StyleGAN3 code.

The official implementations ship custom CUDA kernels (``bias_act``, ``upfirdn2d``,
``filtered_lrelu``) with slow reference fallbacks. This module writes the same maths in
ordinary ``torch.nn.functional`` calls, so the generators run on any device PyTorch
supports, and nothing is compiled. Conventions follow the papers' operators:

- a filter ``f`` is a 1-D tensor (separable, applied along x then y) or a 2-D tensor, or
  ``None`` for the identity; filtering is a *convolution* (the filter is flipped) unless
  ``flip_filter`` is true;
- ``padding`` is ``(x_before, x_after, y_before, y_after)`` in samples of the upsampled
  signal; negative values crop.

All functions take and return (N, C, H, W) tensors and keep the input's dtype.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..._checks import is_int
from ...exceptions import InvalidInputError

__all__ = [
    "bias_act",
    "modulated_conv2d",
    "upfirdn2d",
    "upsample2d",
    "filtered_lrelu",
    "lowpass_filter",
    "binomial_filter",
    "FullyConnectedLayer",
    "normalize_2nd_moment",
]

#: Leaky ReLU slope and default gain of NVlabs' activations ("linear" and "lrelu" are the
#: two that the generators use).
_ACTIVATIONS = {"linear": (1.0, 1.0), "lrelu": (0.2, math.sqrt(2.0)), "relu": (0.0, math.sqrt(2.0))}


def _pad4(padding: int | Sequence[int]) -> tuple[int, int, int, int]:
    if is_int(padding):
        return (int(padding),) * 4
    padding = [int(p) for p in padding]
    if len(padding) == 2:
        return (padding[0], padding[0], padding[1], padding[1])
    if len(padding) == 4:
        return tuple(padding)  # type: ignore[return-value]
    raise InvalidInputError(f"padding must be an int, (x, y) or (x0, x1, y0, y1); got {padding}")


def bias_act(
    x: torch.Tensor,
    b: torch.Tensor | None = None,
    *,
    act: str = "linear",
    alpha: float | None = None,
    gain: float | None = None,
    clamp: float | None = None,
) -> torch.Tensor:
    """Add a per-channel bias, apply an activation, scale by ``gain`` and clamp to ±``clamp``.

    ``act`` is ``"linear"``, ``"relu"`` or ``"lrelu"`` (slope ``alpha``, 0.2 by default);
    ``gain`` defaults to the activation's own (√2 for the rectifiers, 1 for linear).
    """
    if act not in _ACTIVATIONS:
        raise InvalidInputError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {act!r}")
    default_alpha, default_gain = _ACTIVATIONS[act]
    alpha = default_alpha if alpha is None else float(alpha)
    gain = default_gain if gain is None else float(gain)
    if b is not None:
        x = x + b.to(x.dtype).reshape([1, -1] + [1] * (x.ndim - 2))
    if act != "linear" and alpha != 1.0:
        x = F.leaky_relu(x, alpha) if alpha > 0 else F.relu(x)
    if gain != 1.0:
        x = x * gain
    if clamp is not None and clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def upfirdn2d(
    x: torch.Tensor,
    f: torch.Tensor | None,
    *,
    up: int = 1,
    down: int = 1,
    padding: int | Sequence[int] = 0,
    gain: float = 1.0,
    flip_filter: bool = False,
) -> torch.Tensor:
    """Upsample by zero insertion, pad (or crop), filter with ``f``, keep every ``down``-th sample.

    The filter is multiplied by ``gain`` (spread evenly over both passes of a separable one).
    """
    if x.ndim != 4:
        raise InvalidInputError(f"expected a 4-D tensor (N, C, H, W); got shape {tuple(x.shape)}")
    n, c, h, w = x.shape
    x0, x1, y0, y1 = _pad4(padding)
    if up > 1:
        x = _zero_insert_and_pad(x, up, x0, x1, y0, y1)
    else:
        x = F.pad(x, [max(x0, 0), max(x1, 0), max(y0, 0), max(y1, 0)])
        x = x[:, :, max(-y0, 0) : x.shape[2] - max(-y1, 0), max(-x0, 0) : x.shape[3] - max(-x1, 0)]
    if f is not None:
        f = f.to(device=x.device, dtype=x.dtype) * (gain ** (f.ndim / 2))
        if not flip_filter:
            f = f.flip(list(range(f.ndim)))
        # the stride keeps every down-th output only: the same values as filtering then
        # subsampling, without computing (and holding) the down² times larger result
        if f.ndim == 2:
            x = F.conv2d(x, f[None, None].expand(c, 1, *f.shape), groups=c, stride=down)
        else:
            x = F.conv2d(x, f[None, None, None, :].expand(c, 1, 1, f.shape[0]), groups=c, stride=(1, down))
            x = F.conv2d(x, f[None, None, :, None].expand(c, 1, f.shape[0], 1), groups=c, stride=(down, 1))
        return x
    if gain != 1.0:
        x = x * gain
    if down > 1:
        x = x[:, :, ::down, ::down]
    return x


def _zero_insert_and_pad(x: torch.Tensor, up: int, x0: int, x1: int, y0: int, y1: int) -> torch.Tensor:
    """``x`` upsampled by zero insertion and padded (cropped where negative), in one allocation.

    Sample (i, j) of ``x`` lands at (i up + y0, j up + x0) of a zero tensor of the padded
    size; the same values as inserting zeros, then padding, without the intermediate.
    """
    n, c, h, w = x.shape
    out_h, out_w = h * up + y0 + y1, w * up + x0 + x1
    out = x.new_zeros(n, c, max(out_h, 0), max(out_w, 0))

    def kept(size: int, offset: int, out_size: int) -> tuple[int, int, int]:
        first = -(-max(-offset, 0) // up)  # first input index landing at >= 0
        last = min(size, (out_size - 1 - offset) // up + 1) if out_size > 0 else 0
        return first, max(last, first), first * up + offset

    i0, i1, r0 = kept(h, y0, out_h)
    j0, j1, c0 = kept(w, x0, out_w)
    if i1 > i0 and j1 > j0:
        out[:, :, r0 : r0 + (i1 - i0 - 1) * up + 1 : up, c0 : c0 + (j1 - j0 - 1) * up + 1 : up] = x[:, :, i0:i1, j0:j1]
    return out


def _filter_size(f: torch.Tensor | None) -> int:
    return 1 if f is None else int(f.shape[-1])


def upsample2d(x: torch.Tensor, f: torch.Tensor, *, up: int = 2) -> torch.Tensor:
    """Upsample by ``up`` with the low-pass filter ``f``, output exactly ``up`` times larger."""
    fw = _filter_size(f)
    pad = ((fw + up - 1) // 2, (fw - up) // 2)
    return upfirdn2d(x, f, up=up, padding=(pad[0], pad[1], pad[0], pad[1]), gain=up * up)


def conv2d_up2(
    x: torch.Tensor, weight: torch.Tensor, f: torch.Tensor, *, padding: int, groups: int = 1
) -> torch.Tensor:
    """Convolution (not correlation) of the ×2 zero-upsampled ``x`` with ``weight``, then ``f``.

    The same operator as upsampling by two with the filter ``f`` followed by a convolution
    with ``weight``, computed as a strided transposed convolution (no multiplications by
    inserted zeros). ``padding`` is with respect to the upsampled signal.
    """
    out_ch, in_per_group, kh, kw = weight.shape
    fw = _filter_size(f)
    up = 2
    # Padding of the upsampled signal that the full operator needs, less what the
    # transposed convolution already produces around its output.
    p0 = padding + (fw + up - 1) // 2 - (kw - 1)
    p1 = padding + (fw - up) // 2 - (kw - up)
    if groups == 1:
        wt = weight.transpose(0, 1)
    else:
        wt = weight.reshape(groups, out_ch // groups, in_per_group, kh, kw).transpose(1, 2)
        wt = wt.reshape(groups * in_per_group, out_ch // groups, kh, kw)
    x = F.conv_transpose2d(x, wt, stride=up, groups=groups)
    return upfirdn2d(x, f, padding=(p0, p1, p0, p1), gain=up * up)


def modulated_conv2d(
    x: torch.Tensor,
    weight: torch.Tensor,
    styles: torch.Tensor,
    *,
    demodulate: bool = True,
    prenormalize: bool = False,
    input_gain: torch.Tensor | None = None,
    up: int = 1,
    padding: int = 0,
    resample_filter: torch.Tensor | None = None,
) -> torch.Tensor:
    """The modulated convolution of StyleGAN2 and StyleGAN3, one grouped convolution for the batch.

    Each sample's kernel is ``weight`` (O, I, k, k) scaled per input channel by its style
    (N, I) and, with ``demodulate``, renormalised to unit norm per output channel.

    Parameters
    ----------
    x : Tensor (N, I, H, W)
    weight : Tensor (O, I, k, k)
    styles : Tensor (N, I)
    demodulate : bool
    prenormalize : bool
        StyleGAN3: with ``demodulate``, scale ``weight`` and ``styles`` to unit mean square
        first (the official code does so to keep fp16 in range; the result differs in rounding).
    input_gain : Tensor (I,) or (N, I), optional
        StyleGAN3: a last per-input-channel scale of the kernels.
    up : {1, 2}
        StyleGAN2's upsampling layers: ``x`` is upsampled by two with ``resample_filter``
        first (computed as in :func:`conv2d_up2`).
    padding : int

    Returns
    -------
    Tensor (N, O, H', W')
    """
    n = x.shape[0]
    out_ch, in_ch, kh, kw = weight.shape
    if demodulate and prenormalize:
        weight = weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt()
        styles = styles * styles.square().mean().rsqrt()
    w = weight.unsqueeze(0) * styles.reshape(n, 1, in_ch, 1, 1)
    if demodulate:
        w = w * (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt().reshape(n, out_ch, 1, 1, 1)
    if input_gain is not None:
        w = w * input_gain.expand(n, in_ch).reshape(n, 1, in_ch, 1, 1)
    x = x.reshape(1, n * in_ch, *x.shape[2:])
    w = w.reshape(n * out_ch, in_ch, kh, kw).to(x.dtype)
    if up == 1:
        x = F.conv2d(x, w, padding=padding, groups=n)
    elif up == 2:
        x = conv2d_up2(x, w, resample_filter, padding=padding, groups=n)
    else:
        raise InvalidInputError(f"up must be 1 or 2; got {up}")
    return x.reshape(n, out_ch, *x.shape[2:])


def filtered_lrelu(
    x: torch.Tensor,
    fu: torch.Tensor | None,
    fd: torch.Tensor | None,
    b: torch.Tensor | None,
    *,
    up: int,
    down: int,
    padding: Sequence[int],
    gain: float,
    slope: float,
    clamp: float | None,
) -> torch.Tensor:
    """StyleGAN3's alias-free nonlinearity: bias, upsample with ``fu``, leaky ReLU, clamp,
    filter with ``fd`` and downsample.

    The activation works in place on the upsampled tensor, which only this function holds
    (the largest of the layer: up² times the input), so it is never held twice; out of
    place while autograd records (a backward pass needs the activation's own output).
    """
    x = bias_act(x, b) if b is not None else x.clone()
    x = upfirdn2d(x, fu, up=up, padding=padding, gain=up * up)
    if torch.is_grad_enabled() and x.requires_grad:
        if slope != 1.0:
            x = F.leaky_relu(x, slope) if slope > 0 else F.relu(x)
        if gain != 1.0:
            x = x * gain
        if clamp is not None and clamp >= 0:
            x = x.clamp(-clamp, clamp)
        return upfirdn2d(x, fd, down=down)
    if slope != 1.0:
        x = F.leaky_relu_(x, slope) if slope > 0 else F.relu_(x)
    if gain != 1.0:
        x = x.mul_(gain)
    if clamp is not None and clamp >= 0:
        x = x.clamp_(-clamp, clamp)
    return upfirdn2d(x, fd, down=down)


def normalize_2nd_moment(x: torch.Tensor, dim: int = 1, eps: float = 1e-8) -> torch.Tensor:
    """Scale ``x`` to unit mean square along ``dim``."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


def binomial_filter(taps: Sequence[float] = (1, 3, 3, 1)) -> torch.Tensor:
    """The 2-D outer product of ``taps`` normalised to unit sum (StyleGAN2's resampling filter).

    Computed in NumPy (float32, as before in torch): on the ``meta`` device torch.outer would
    first import torch's Python references, seconds for a few numbers.
    """
    f = np.asarray(list(taps), dtype=np.float32)
    f = np.outer(f, f) if f.size < 8 else f
    return torch.tensor(f / f.sum(dtype=np.float32))


def lowpass_filter(numtaps: int, cutoff: float, width: float, fs: float, *, radial: bool = False) -> torch.Tensor | None:
    """A Kaiser-windowed low-pass filter (``None`` for one tap), as StyleGAN3 designs them.

    Separable: a windowed sinc, the design of ``scipy.signal.firwin(numtaps, cutoff,
    width=width, fs=fs)``. Radial: a windowed jinc on a ``numtaps``² grid. Both have unit DC
    gain. Official checkpoints store these filters; they are designed here only to give a
    generator built from its configuration the buffers the checkpoint fills.
    """
    if numtaps < 1:
        raise InvalidInputError(f"numtaps must be >= 1; got {numtaps}")
    if numtaps == 1:
        return None
    nyq = fs / 2
    atten = 2.285 * (numtaps - 1) * np.pi * (width / nyq) + 7.95
    if atten > 50:
        beta = 0.1102 * (atten - 8.7)
    elif atten > 21:
        beta = 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    else:
        beta = 0.0
    window = np.kaiser(numtaps, beta)
    if not radial:
        c = cutoff / nyq
        m = np.arange(numtaps) - (numtaps - 1) / 2
        h = c * np.sinc(c * m) * window
        return torch.as_tensor(h / h.sum(), dtype=torch.float32)
    t = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(t, t))
    arg = torch.as_tensor(2 * cutoff * np.pi * r, dtype=torch.float64, device="cpu")
    jinc = torch.special.bessel_j1(arg).numpy() / (np.pi * r)
    h = jinc * np.outer(window, window)
    return torch.as_tensor(h / h.sum(), dtype=torch.float32)


class FullyConnectedLayer(nn.Module):
    """A dense layer with equalised learning rate: ``act(x Wᵀ·g_w + b·g_b)``.

    Parameters ``weight`` (out, in) and ``bias`` (out,) are stored unscaled, as in the
    official checkpoints; ``g_w = lr_multiplier / sqrt(in)`` and ``g_b = lr_multiplier``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        activation: str = "linear",
        lr_multiplier: float = 1.0,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight_gain = lr_multiplier / math.sqrt(in_features)
        self.bias_gain = lr_multiplier
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x.dtype) * self.weight_gain
        b = self.bias
        if b is not None:
            b = b.to(x.dtype)
            if self.bias_gain != 1:
                b = b * self.bias_gain
        if self.activation == "linear" and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}"
