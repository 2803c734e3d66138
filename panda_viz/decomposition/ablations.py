"""The ablations of the paper's Fig. 8: what PandA's constraints and form buy.

PandA decomposes each sample's mode-3 unfolding Z_i (C x S) with non-negative parts. The
paper's Fig. 8 compares, row by row:

1. MPCA (Lu, Plataniotis & Venetsanopoulos, 2008) on the 3rd-order tensors Z_i (C x H x W):
   separate row and column factors, so every "part" is an outer product u_h u_wᵀ
   (:func:`~panda_viz.decomposition.tensor.mpca` with ``Z`` of shape (N, C, H, W));
2. MPCA on the mode-3 unfoldings Z_i (C x S) (:func:`~panda_viz.decomposition.tensor.mpca`
   with ``Z`` flattened to (N, C, S)): orthonormal spatial factors, no sign constraint;
3. PandA's objective without the non-negativity constraint (:func:`unconstrained_panda`):
   min Σ_i ‖Z_i − A Aᵀ Z_i P Pᵀ‖² over free A and P, by gradient descent from PandA's
   initialisation;
4. PandA itself (:class:`panda_viz.decomposition.PandA`).

Only 4 gives local, non-overlapping parts; 1 to 3 give factors spanning the whole window.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .._checks import as_rng, check_float, check_int
from ..exceptions import InvalidInputError
from ._init import channel_basis, random_parts
from .objectives import batch_relative_objective
from .tensor import (  # rows 1 and 2 (the library's MPCA, also used by the lesson)
    MPCAResult,
    mpca,
)

__all__ = ["MPCAResult", "mpca", "unconstrained_panda", "UnconstrainedResult"]


@dataclass
class UnconstrainedResult:
    """PandA's objective minimised with free (sign-unconstrained) parts.

    Attributes
    ----------
    parts : Tensor (n_parts, H, W)   (any sign)
    appearances : Tensor (C, C)
    objective : float
        Relative objective Σ‖Z_i − AAᵀZ_iPPᵀ‖² / Σ‖Z_i‖².
    loss_history : list of float
    """

    parts: torch.Tensor
    appearances: torch.Tensor
    objective: float
    loss_history: list


def unconstrained_panda(
    Z: torch.Tensor,
    n_parts: int,
    *,
    max_iter: int = 500,
    learning_rate: float = 1e-2,
    random_state: int | torch.Generator | None = 0,
) -> UnconstrainedResult:
    """min_{A, P} Σ_i ‖Z_i − A Aᵀ Z_i P Pᵀ‖²_F without P ≥ 0 (Fig. 8, row 3).

    Starts where PandA starts (A from the channel HOSVD basis, P ~ U(0, 0.01)) and runs
    full-batch Adam on the relative objective, never projecting P.

    Parameters
    ----------
    Z : Tensor (N, C, H, W)
    n_parts : int
        In [1, H·W].
    max_iter : int
    learning_rate : float
        Adam's step.
    random_state : int, torch.Generator or None
        Seeds P's initialisation (:func:`panda_viz._checks.as_rng`: None draws a fresh seed).

    Returns
    -------
    UnconstrainedResult
    """
    if not isinstance(Z, torch.Tensor) or Z.ndim != 4:
        got = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise InvalidInputError(f"unconstrained_panda: Z of shape (N, C, H, W) expected; got {got}")
    N, C, H, W = Z.shape
    check_int("n_parts (at most H·W)", n_parts, low=1, high=H * W)
    check_int("max_iter", max_iter, low=1)
    check_float("learning_rate", learning_rate)
    rng = as_rng(random_state)
    z = Z.flatten(2).to(torch.float64)
    energy = float((z**2).sum())
    A = channel_basis(torch.einsum("ncs,nds->cd", z, z), C).clone().requires_grad_(True)
    P = random_parts(1, H * W, n_parts, rng=rng, device=z.device)[0].clone().requires_grad_(True)
    optimiser = torch.optim.Adam([A, P], lr=learning_rate)
    history = []
    for _ in range(max_iter):
        optimiser.zero_grad()
        loss = batch_relative_objective(z, energy, A, P)
        loss.backward()
        optimiser.step()
        history.append(float(loss.detach()))
    with torch.no_grad():
        objective = float(batch_relative_objective(z, energy, A, P))
    return UnconstrainedResult(
        parts=P.detach().T.reshape(n_parts, H, W).to(Z.dtype),
        appearances=A.detach().to(Z.dtype),
        objective=objective,
        loss_history=history,
    )
