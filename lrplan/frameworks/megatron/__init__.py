"""Megatron-LM: command-line flags and checkpoint ``args`` <-> Schedule IR (see read.py and write.py)."""

from .read import FORMAT, check_wd, from_args, resolve, step_name  # noqa: F401
