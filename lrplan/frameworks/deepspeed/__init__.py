"""DeepSpeed: the JSON config's ``scheduler`` section <-> Schedule IR (see read.py, curves.py, write.py)."""

from .read import FORMAT, PARAMS, from_config  # noqa: F401
