"""HF transformers ``TrainingArguments``: recipes and flag strings <-> Schedule IR (see read.py, write.py)."""

from .read import FORMAT, from_training_args  # noqa: F401
