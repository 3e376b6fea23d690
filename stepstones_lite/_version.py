"""The package version (one place: the package, the CLI and ``print_env`` read it)."""

__version__ = "0.1.0"
