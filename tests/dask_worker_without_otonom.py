"""A dask worker preload (`preload=[this file]`): the worker cannot import otonom_trader, as
on a cluster whose workers lack the package."""

import sys


class _NoOtonom:
    def find_spec(self, name, path=None, target=None):
        if name == "otonom_trader" or name.startswith("otonom_trader."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, _NoOtonom())
