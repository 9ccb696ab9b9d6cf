"""Numba kernels on plain arrays (the only package that imports numba).

Importing this package does nothing: ``kernels.enums`` is plain Python, and numba loads
only with a kernel module (``simulate``, ``grid``, ``pbo``), whose ``jit.njit`` points
numba's cache at a folder named after the kernels' sources.
"""
