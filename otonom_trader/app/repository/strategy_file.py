"""Write a strategy file as a round-trip edit of its base (ruamel.yaml): key order, comments,
quoting and indentation of the base survive, so a diff shows only the values that changed,
the new ``name`` and the ``metadata`` block.

Floats are written in a form both YAML 1.1 (the reader, ``domain.safe_yaml``) and YAML 1.2
read back as the same float (``repr`` digits, ``1.0e-05`` rather than ``1e-05``), and a new
string the reader would take for something else (``yes``) is quoted (``quoted_as_text``).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from typing import Any

from otonom_trader.domain.json_text import finite
from otonom_trader.domain.safe_yaml import quoted_as_text
from otonom_trader.domain.strategy import Strategy
from otonom_trader.domain.strategy_loader import check_value, get_value

__all__ = ["STRATEGIES_DIR", "changed_values", "plain", "render_strategy", "typed_value"]

STRATEGIES_DIR = "strategies"  # strategies/<name>.yaml
METADATA_COMMENT = "Recorded by `otonom promote` (provenance, not parameters)."


def plain(value: Any) -> Any:
    """Plain Python data for YAML (``domain.json_text.finite``: numpy scalars via
    ``.item()``, NaN/±inf → None, tuples → lists, mappings → dicts)."""
    return finite(value)


def typed_value(dotted: str, value: Any, current: Any = None) -> Any:
    """``value`` (e.g. a float64 from a runs frame) as the type the key takes: an integer
    for integer keys, and for number keys an integer where the base wrote an integer."""
    value = plain(value)
    if isinstance(value, float) and value.is_integer():
        as_int = int(value)
        if check_value(dotted, value) is not None and check_value(dotted, as_int) is None:
            return as_int
        if isinstance(current, int) and not isinstance(current, bool) \
                and check_value(dotted, as_int) is None:
            return as_int
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return a == b


def _written(strategy: Strategy, dotted: str) -> Any:
    """The value as written in the file (None if the file does not set it)."""
    node: Any = strategy.raw
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def changed_values(base: Strategy, params: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """``{dotted: (old, new)}`` for the parameters whose value differs from the base's
    effective value (defaults included), with ``new`` typed for the key."""
    out: dict[str, tuple[Any, Any]] = {}
    for dotted, value in params.items():
        old = get_value(base, dotted)
        new = typed_value(dotted, value, _written(base, dotted))
        if not _same(old, new):
            out[dotted] = (old, new)
    return out


def _represent_float(representer, value: float):
    if math.isnan(value):
        text = ".nan"
    elif math.isinf(value):
        text = ".inf" if value > 0 else "-.inf"
    else:
        text = repr(value)
        if "e" in text:
            mantissa, exponent = text.split("e")
            if "." not in mantissa:
                mantissa += ".0"
            if exponent[0] not in "+-":
                exponent = "+" + exponent
            text = f"{mantissa}e{exponent}"
        elif "." not in text:
            text += ".0"
    return representer.represent_scalar("tag:yaml.org,2002:float", text)


def _represent_none(representer, _value: None):
    return representer.represent_scalar("tag:yaml.org,2002:null", "null")


def _yaml(indent: int, sequence_dash: int | None):
    from ruamel.yaml import YAML

    y = YAML()  # round trip
    y.preserve_quotes = True
    y.width = 4096  # never re-wrap long scalars
    y.indent(mapping=indent, sequence=indent, offset=sequence_dash or 0)
    y.representer.add_representer(float, _represent_float)
    y.representer.add_representer(type(None), _represent_none)
    return y


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _replace_eol_comment(node, key: str, text: str) -> None:
    """The comment at the end of ``key``'s line described the old value: replace it with
    ``text`` (blank lines and comment lines that follow it are kept)."""
    item = node.ca.items.get(key)
    token = item[2] if item and len(item) > 2 else None
    if token is None or not token.value.lstrip().startswith("#"):
        return
    _, newline, rest = token.value.partition("\n")
    token.value = text + newline + rest


def render_strategy(base_text: str, values: Mapping[str, Any], name: str,
                    metadata: Mapping[str, Any] | None) -> str:
    """The base file's text with ``values`` (dotted path → plain value) set, ``name``
    replaced and ``metadata`` (replacing any earlier block) appended at the end. A changed
    value's end-of-line comment becomes ``# was <old> in <parent>``."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.util import load_yaml_guess_indent

    _, indent, dash = load_yaml_guess_indent(base_text)
    y = _yaml(indent or 2, dash)
    doc = y.load(base_text)
    parent = doc.get("name")
    doc["name"] = quoted_as_text(name)
    for dotted, value in values.items():
        node = doc
        parts = dotted.split(".")
        for part in parts[:-1]:
            if node.get(part) is None:
                node[part] = CommentedMap()
            node = node[part]
        old = node.get(parts[-1])
        node[parts[-1]] = quoted_as_text(plain(value))
        _replace_eol_comment(node, parts[-1], f"# was {_scalar_text(old)} in {parent}")
    had_metadata = "metadata" in doc
    if had_metadata:  # its leading comment stays with the key before it
        del doc["metadata"]
    if metadata is not None:
        doc["metadata"] = quoted_as_text(plain(metadata))
        if not had_metadata:
            doc.yaml_set_comment_before_after_key("metadata", before="\n" + METADATA_COMMENT,
                                                  indent=0)
    buf = io.StringIO()
    y.dump(doc, buf)
    return buf.getvalue()
