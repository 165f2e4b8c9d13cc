"""lrplan's version (one place; the package, the CLI and emitted artefacts read it)."""

__version__ = "0.1.0"
