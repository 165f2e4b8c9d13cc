"""Is this text a NeMo 2.x recipe or script? A regex and a few names, nothing parsed: detection runs for
every config lrplan reads, so the ast reader (recipe.py, pyeval.py) is imported only to read one."""

from __future__ import annotations

import re

from .tables import NEMO2_WRAPPERS, RECIPES, WSD_WRAPPER

MAX_CHARS = 500_000  # a recipe is a few kB; ast.parse of a 2 MB list literal takes about 1 GB
_IMPORT = re.compile(r"^[ \t]*(?:from|import)[ \t]+(?:nemo_run|nemo)\b", re.MULTILINE)
_NAMES = (*NEMO2_WRAPPERS, WSD_WRAPPER, *RECIPES, "pretrain_recipe", "finetune_recipe", "lr_scheduler")


def looks_like_recipe(text: str) -> bool:
    return len(text) <= MAX_CHARS and _IMPORT.search(text) is not None


def detect(text: str, path) -> int:
    suffix = path.suffix.lower() if path is not None else ""
    if suffix not in ("", ".py") or not looks_like_recipe(text):
        return 0
    return 9 if any(n in text for n in _NAMES) else 5
