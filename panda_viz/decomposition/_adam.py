"""The paper's alternative to Algorithm 1 (Sec. 4.3.3): autograd with Adam, projecting P after each step.

As the official ``decompose_autograd``: two Adam optimisers, a step in P on the batch's
mean loss, the projection max(0, P), then a step in A on the loss recomputed at the new P.
"""

from __future__ import annotations

import torch

__all__ = ["batch_loss", "AdamState"]


def batch_loss(Z: torch.Tensor, A: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """Mean over the batch of ||Z_i - A A^T Z_i P P^T||_F^2. Z (b, C, S)."""
    recon = A @ (A.T @ Z @ P) @ P.T
    return ((Z - recon) ** 2).sum(dim=(1, 2)).mean()


class AdamState:
    """Parameters and optimisers of one Adam fit."""

    def __init__(self, A: torch.Tensor, P: torch.Tensor, lr: float) -> None:
        self.A = torch.nn.Parameter(A.clone())
        self.P = torch.nn.Parameter(P.clone())
        self.opt_P = torch.optim.Adam([self.P], lr=lr)
        self.opt_A = torch.optim.Adam([self.A], lr=lr)

    def step(self, Z: torch.Tensor) -> None:
        with torch.enable_grad():
            self.opt_P.zero_grad()
            batch_loss(Z, self.A.detach(), self.P).backward()
            self.opt_P.step()
            with torch.no_grad():
                self.P.clamp_(min=0)
            self.opt_A.zero_grad()
            batch_loss(Z, self.A, self.P.detach()).backward()
            self.opt_A.step()
