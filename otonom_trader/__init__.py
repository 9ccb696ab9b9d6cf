"""otonom: a Git-native strategy repository for systematic traders."""

__version__ = "0.1.0"
