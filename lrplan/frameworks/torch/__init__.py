"""PyTorch: the writer of scheduler code (write.py) and torch.optim.lr_scheduler states as IR (state.py)."""

from .write import FORMAT  # noqa: F401
