"""The library's version (one place; the package face and the save files read it)."""

__version__ = "0.1.0"

__all__ = ["__version__"]
