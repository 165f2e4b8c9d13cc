"""lrplan: plan, convert and check learning-rate schedules across training stacks."""

__version__ = "0.1.0"
