"""Where the work runs: progress bars and torch.distributed process groups."""
