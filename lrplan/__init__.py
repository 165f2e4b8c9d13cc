"""lrplan: plan, convert and check learning-rate schedules across training stacks."""

from .version import __version__  # noqa: F401
