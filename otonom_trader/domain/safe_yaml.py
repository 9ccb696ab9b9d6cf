"""THE YAML reader for every file a user or a pull request gives us (strategies, grids,
``params.yaml``, deployments, ``dvc.lock``): PyYAML's safe loader with bounds.

* size: at most ``MAX_BYTES``, checked before the file is read;
* nesting: at most ``MAX_DEPTH`` levels, counted while composing (no RecursionError);
* aliases: an alias to a node still being composed (a recursive alias) is refused, and all
  aliases together may add at most ``MAX_ALIAS_NODES`` nodes when expanded, so an alias bomb
  ("billion laughs") fails at once instead of being expanded by a later deep copy.

Problems are one ``InputError`` (or the caller's subclass) naming the file and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.composer import ComposerError

from otonom_trader.domain.errors import InputError

__all__ = ["MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "BoundedLoader", "parse_yaml",
           "read_yaml"]

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ALIAS_NODES = 10_000


class BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that bounds nesting depth and alias expansion while composing."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0
        self._open: set[int] = set()  # collections whose children are being composed
        self._sizes: dict[int, int] = {}  # id(node) -> nodes once its aliases are expanded
        self._expanded = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is not None:
            self._open.add(id(parent))
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) in self._open:
                    raise ComposerError(None, None, f"alias *{event.anchor} refers to the node "
                                        "that contains it (a recursive alias)", event.start_mark)
                self._expanded += self._sizes[id(target)]
                if self._expanded > MAX_ALIAS_NODES:
                    raise ComposerError(None, None, "aliases expand to more than "
                                        f"{MAX_ALIAS_NODES:,} values (an alias bomb?); write the "
                                        "values out", event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                self.peek_event().start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._open.discard(id(node))
        if isinstance(node, yaml.SequenceNode):
            size = 1 + sum(self._sizes[id(v)] for v in node.value)
        elif isinstance(node, yaml.MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node


def _problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc)
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _too_big(source: str) -> str:
    return f"{source}: larger than {MAX_BYTES:,} bytes, the limit for a YAML file"


def parse_yaml(text: str, source: str, loader: type = BoundedLoader,
               error: type[InputError] = InputError) -> Any:
    """Parse ``text`` (from ``source``, named in errors) with ``loader`` (a BoundedLoader)."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise error(_too_big(source))
    try:
        return yaml.load(text, Loader=loader)  # loader: a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{source}: {_problem(exc)}") from None
    except ValueError as exc:  # a value a constructor rejects, e.g. `!!int x`
        raise error(f"{source}: invalid YAML: {exc}") from None
    except RecursionError:  # a safety net: MAX_DEPTH keeps the composer far from the limit
        raise error(f"{source}: invalid YAML: nested too deeply") from None


def read_yaml(path: str | Path, kind: str, loader: type = BoundedLoader,
              error: type[InputError] = InputError) -> Any:
    """Read and parse a YAML file (``kind``: what it should be, e.g. ``strategy``); no more
    than ``MAX_BYTES`` + 1 bytes are read. Any problem is one ``error`` naming the file."""
    path = Path(path)
    try:
        with path.open("rb") as f:  # at most MAX_BYTES + 1 bytes, whatever the file is
            data = f.read(MAX_BYTES + 1)
        if len(data) > MAX_BYTES:
            raise error(_too_big(str(path)))
        text = data.decode("utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such {kind} file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a {kind} YAML file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text, expected a {kind} YAML file") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    return parse_yaml(text, str(path), loader, error)
