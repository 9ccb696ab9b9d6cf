"""Load and validate strategy files into frozen ``Strategy`` objects, in two passes.

Pass 1 checks shapes against ``strategy.schema.json`` and reports the best match; pass 2 runs
named cross-field checks. Every failure is one ``StrategyError`` line naming the file, the key
in backticks and what was expected. Integers are strict: ``20.0`` or ``true`` where an integer
is expected is rejected, as are booleans, NaN and infinity where a number is expected.
"""

from __future__ import annotations

import copy
import difflib
import functools
import hashlib
import json
import math
from collections.abc import Iterator, Mapping
from dataclasses import fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft202012Validator, validators
from jsonschema.exceptions import ValidationError, best_match
from ruamel.yaml.constructor import ConstructorError
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode

from otonom_trader.domain import safe_yaml
from otonom_trader.domain.errors import StrategyError
from otonom_trader.domain.safe_yaml import BoundedLoader, Yaml11Constructor
from otonom_trader.domain.strategy import (
    ANALYST_NAMES,
    Analysts,
    DataSettings,
    Ensemble,
    Execution,
    MeanRevParams,
    MomentumParams,
    NewsParams,
    RegimeParams,
    Risk,
    Strategy,
    TechParams,
)

__all__ = [
    "apply_overrides",
    "check_value",
    "get_value",
    "load_strategy",
    "raw_dict",
    "strategy_from_mapping",
    "strategy_from_text",
    "strategy_hash",
    "valid_paths",
]

_PARAMS = {
    "tech": TechParams,
    "momentum": MomentumParams,
    "meanrev": MeanRevParams,
    "regime": RegimeParams,
    "news": NewsParams,
}
_TYPE_NAMES = {
    "integer": "an integer",
    "number": "a number",
    "string": "a string",
    "boolean": "true or false",
    "object": "a mapping of keys",
    "array": "a list",
    "null": "null",
}


# ---------------------------------------------------------------- schema and paths


def _is_int(_checker: Any, value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(_checker: Any, value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float range
        return False


_Validator = validators.extend(
    Draft202012Validator,
    type_checker=Draft202012Validator.TYPE_CHECKER.redefine_many(
        {"integer": _is_int, "number": _is_number}
    ),
)


@functools.cache
def _schema() -> dict[str, Any]:
    text = resources.files("otonom_trader.domain").joinpath("strategy.schema.json").read_text()
    return json.loads(text)


@functools.cache
def _validator() -> Any:
    return _Validator(_schema())


@functools.cache
def _paths() -> tuple[str, ...]:
    out: list[str] = []

    def walk(node: Mapping[str, Any], prefix: str) -> None:
        for key, sub in node.get("properties", {}).items():
            if "properties" in sub:
                walk(sub, f"{prefix}{key}.")
            elif sub.get("type") != "object":  # skip free-form blocks (metadata)
                out.append(prefix + key)

    walk(_schema(), "")
    return tuple(out)


def valid_paths() -> list[str]:
    """Every dotted leaf path a strategy file may set, in schema order."""
    return list(_paths())


# ---------------------------------------------------------------- messages


def _show(value: Any) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _hint(key: str, candidates: list[str], stem: str) -> str:
    """``did you mean `a.c`?`` (matching the last part of ``key``) or the keys under ``stem``."""
    names = [c.rsplit(".", 1)[-1] for c in candidates]
    match = difflib.get_close_matches(key.rsplit(".", 1)[-1], names, n=1, cutoff=0.6)
    if match:
        return f"did you mean `{candidates[names.index(match[0])]}`?"
    where = f" under `{stem}`" if stem else ""
    return f"allowed keys{where}: " + ", ".join(f"`{n}`" for n in names)


def _describe(schema: Mapping[str, Any], value: Any) -> str:
    """What a schema node accepts, in words: ``an integer ≥ 1``, ``a number > 0 or null``."""
    if "enum" in schema:
        return "one of " + ", ".join(f"`{v}`" for v in schema["enum"])
    if "pattern" in schema:
        return schema.get("description", f"a string matching {schema['pattern']}")
    types = schema.get("type", [])
    types = [types] if isinstance(types, str) else list(types)
    words = [_TYPE_NAMES.get(t, t) for t in types]
    if "string" in types and "minLength" in schema:
        words[types.index("string")] = "a non-empty string"
    for i, t in enumerate(types):
        if t not in ("integer", "number"):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            words[i] = "a finite number"
        if "minimum" in schema and "maximum" in schema:
            words[i] += f" between {schema['minimum']} and {schema['maximum']}"
        else:
            ops = {"minimum": "≥", "maximum": "≤", "exclusiveMinimum": ">", "exclusiveMaximum": "<"}
            words[i] += " and".join(f" {op} {schema[k]}" for k, op in ops.items() if k in schema)
        if t == "integer" and isinstance(value, float) and value.is_integer():
            words[i] += f" (write {int(value)}, not {value})"
    return " or ".join(words)


def _schema_message(err: ValidationError) -> str:
    parts = [str(p) for p in err.absolute_path]
    key = ".".join(parts)
    if err.validator == "additionalProperties":
        allowed = list(err.schema.get("properties", {}))
        extra = next(str(k) for k in err.instance if k not in allowed)
        prefix = f"{key}." if key else ""
        hint = _hint(prefix + extra, [prefix + a for a in allowed], stem=key)
        return f"unknown key `{prefix}{extra}` — {hint}"
    if err.validator == "required":
        missing = next(k for k in err.validator_value if k not in err.instance)
        return f"missing required key `{'.'.join([*parts, missing])}`"
    if not key:  # the type only: the document itself may be any file's content
        kind = _json_type(err.instance)
        return f"expected a mapping of strategy keys, got {_TYPE_NAMES.get(kind, 'something else')}"
    return f"`{key}`: expected {_describe(err.schema, err.instance)}, got {_show(err.instance)}"


def _cross_errors(s: Strategy) -> Iterator[str]:
    """Pass 2: rules between keys, each one line naming the keys."""
    tech, ens, risk = s.analysts.tech, s.ensemble, s.risk
    if tech is not None and tech.fast_window >= tech.slow_window:
        yield (
            f"`analysts.tech.fast_window` ({tech.fast_window}) must be less than "
            f"`analysts.tech.slow_window` ({tech.slow_window})"
        )
    configured = s.analysts.configured()
    if not configured:
        yield "`analysts`: configure at least one of " + ", ".join(f"`{n}`" for n in ANALYST_NAMES)
    for name in ens.analyst_weights:
        if name not in configured:
            yield (
                f"`ensemble.analyst_weights.{name}` weights an analyst the strategy does not "
                f"configure: add `analysts.{name}` or remove the weight"
            )
    for name in configured:
        if name not in ens.analyst_weights:
            yield (
                f"`analysts.{name}` has no weight: add `ensemble.analyst_weights.{name}` "
                "(0 switches it off)"
            )
    if not any(w > 0 for w in ens.analyst_weights.values()):
        yield (
            "`ensemble.analyst_weights`: all weights are zero; "
            "give at least one analyst a weight > 0"
        )
    if ens.exit_threshold > ens.entry_threshold:
        yield (
            f"`ensemble.exit_threshold` ({ens.exit_threshold}) must not be above "
            f"`ensemble.entry_threshold` ({ens.entry_threshold})"
        )
    if risk.sizing == "risk" and risk.stop_loss_pct is None:
        yield (
            "`risk.sizing: risk` needs `risk.stop_loss_pct` (size = risk_pct / stop_loss_pct): "
            "set a stop or use `sizing: fixed`"
        )
    if risk.sizing == "fixed" and risk.position_pct > 100 * risk.max_leverage:
        yield (
            f"`risk.position_pct` ({risk.position_pct}) exceeds `risk.max_leverage` "
            f"({risk.max_leverage}) × 100: raise the leverage cap or lower the position"
        )


# ---------------------------------------------------------------- building


_IMMUTABLE = frozenset({str, int, float, bool, type(None)})


def _plain(value: Any) -> Any:
    """Deep copy into plain dicts/lists/Python scalars (numpy scalars via ``.item()``)."""
    if type(value) in _IMMUTABLE:  # deepcopy would return it as it is
        return value
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if type(value).__module__ == "numpy" and getattr(value, "ndim", None) == 0:
        return value.item()
    return copy.deepcopy(value)


def _params(cls: type, block: Mapping[str, Any] | None) -> Any:
    """Build a params dataclass from a validated block; ints become floats for float fields."""
    if block is None:
        return None
    kwargs = {}
    for f in fields(cls):
        if f.name in block:
            v = block[f.name]
            if str(f.type).startswith("float") and _is_int(None, v):
                v = float(v)
            kwargs[f.name] = v
    return cls(**kwargs)


def _build(data: dict[str, Any], source: Path | None, label: str,
           changed: list[tuple[str, ...]] | None = None) -> Strategy:
    """``changed``: the only nodes that differ from a document that passed pass 1 (see
    ``apply_overrides``); when each still fits its own schema node, the whole does."""
    if changed is None or not all(_fits(path, data) for path in changed):
        err = best_match(_validator().iter_errors(data))
        if err is not None:
            raise StrategyError(label + _schema_message(err))
    analysts = data["analysts"]
    ens = data["ensemble"]
    weights = {k: float(v) for k, v in ens.get("analyst_weights", {}).items()}
    strategy = Strategy(
        name=data["name"],
        description=data.get("description", ""),
        analysts=Analysts(**{n: _params(c, analysts.get(n)) for n, c in _PARAMS.items()}),
        ensemble=_params(Ensemble, {**ens, "analyst_weights": MappingProxyType(weights)}),
        risk=_params(Risk, data["risk"]),
        execution=_params(Execution, data.get("execution", {})),
        data=_params(DataSettings, data.get("data", {})),
        metadata=MappingProxyType(copy.deepcopy(data["metadata"])) if "metadata" in data else None,
        source=source,
        raw=MappingProxyType(data),
    )
    message = next(_cross_errors(strategy), None)
    if message is not None:
        raise StrategyError(label + message)
    return strategy


def _label(source: Path | None, suffix: str = "") -> str:
    if source is None:
        return f"strategy{suffix}: " if suffix else ""
    return f"{source}{suffix}: "


def strategy_from_mapping(data: Mapping[str, Any], source: Path | None = None) -> Strategy:
    """Validate ``data`` (both passes) and build the frozen ``Strategy``.

    Missing keys take the dataclass defaults. ``raw`` is a read-only view of a deep, plain
    copy of ``data``; use ``raw_dict`` for a mutable copy.
    """
    source = Path(source) if source is not None else None
    return _build(_plain(data), source, _label(source))


# ---------------------------------------------------------------- files


class _StrictConstructor(Yaml11Constructor):
    """The bounded reader's constructor, rejecting duplicate keys instead of keeping the last."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], Node] = {}
        for key_node, _ in node.value if isinstance(node, MappingNode) else ():
            if not isinstance(key_node, ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            first = seen.setdefault((key_node.tag, key_node.value), key_node)
            if first is not key_node:
                raise ConstructorError(
                    problem=f"duplicate key `{key_node.value}` "
                    f"(first at line {first.start_mark.line + 1})",
                    problem_mark=key_node.start_mark,
                )
        return super().construct_mapping(node, deep=deep)


class _StrictLoader(BoundedLoader):
    """The bounded loader, rejecting duplicate keys instead of keeping the last one."""

    Constructor = _StrictConstructor


def read_yaml(path: Path, loader: type, kind: str) -> Any:
    """Parse a YAML file with ``loader`` (a BoundedLoader subclass); any problem is one
    ``StrategyError`` naming the file (``kind``: what the file should be)."""
    return safe_yaml.read_yaml(path, kind, loader, StrategyError)


def strategy_from_text(text: str, source: str | Path) -> Strategy:
    """Parse and validate a strategy file's text (e.g. from ``git show``) like ``load_strategy``."""
    data = safe_yaml.parse_yaml(text, str(source), _StrictLoader, StrategyError)
    return _from_document(data, Path(source))


def _json_type(value: Any) -> str:
    for name, kind in (("boolean", bool), ("integer", int), ("number", float), ("string", str),
                       ("array", list)):
        if isinstance(value, kind):
            return name
    return ""


def load_strategy(path: str | Path) -> Strategy:
    """Read and validate a strategy YAML file; any problem is one ``StrategyError`` line."""
    path = Path(path)
    return _from_document(read_yaml(path, _StrictLoader, "strategy"), path)


def _from_document(data: Any, path: Path) -> Strategy:
    if data is None:
        raise StrategyError(
            f"{path}: the file is empty; expected a mapping with `name`, `analysts`, "
            "`ensemble` and `risk`"
        )
    if not isinstance(data, dict):
        raise StrategyError(
            f"{path}: expected a mapping of strategy keys at the top, got "
            f"{_TYPE_NAMES.get(_json_type(data), 'something else')}"  # never the content
        )
    return strategy_from_mapping(data, source=path)


# ---------------------------------------------------------------- derived views


def raw_dict(strategy: Strategy) -> dict[str, Any]:
    """A deep, mutable, plain copy of ``strategy.raw`` (for writing YAML or JSON)."""
    return _plain(strategy.raw)


def _check_path(dotted: str, label: str) -> list[str]:
    """Split a known dotted path, or fail naming the closest known path or the keys nearby."""
    paths = list(_paths())
    if dotted in paths:
        return dotted.split(".")
    stem = dotted.rpartition(".")[0]
    under = [p for p in paths if p.startswith(dotted + ".")]
    siblings = [p for p in paths if p.rpartition(".")[0] == stem and stem]
    if under:
        hint = f"`{dotted}` is a block, set one of its keys: " + ", ".join(f"`{p}`" for p in under)
    elif siblings:
        hint = _hint(dotted, siblings, stem=stem)
    elif match := difflib.get_close_matches(dotted, paths, n=1, cutoff=0.6):
        hint = f"did you mean `{match[0]}`?"
    else:
        heads = dict.fromkeys(p.split(".")[0] + ("." if "." in p else "") for p in paths)
        hint = "keys start with " + ", ".join(f"`{h}`" for h in heads)
    raise StrategyError(f"{label}unknown key `{dotted}` — {hint}")


def check_value(dotted: str, value: Any) -> str | None:
    """Why ``value`` cannot be set at ``dotted`` (one line naming the key), or None if it can.

    Pass 1 only: the value's type and range for that key. Cross-field rules (fast < slow,
    weights) are not checked, since they depend on the other values of the strategy.
    """
    try:
        _check_path(dotted, "")
    except StrategyError as exc:
        return str(exc)
    value = _plain(value)
    err = best_match(_node_validator(tuple(dotted.split("."))).iter_errors(value))
    if err is None:
        return None
    return f"`{dotted}`: expected {_describe(err.schema, value)}, got {_show(value)}"


def apply_overrides(strategy: Strategy, overrides: Mapping[str, Any]) -> Strategy:
    """A new ``Strategy`` with dotted paths set in a copy of ``raw``, re-validated (both passes).

    Unknown paths fail with a did-you-mean. Parameters of an analyst the file does not
    configure cannot be set; missing optional blocks (``execution``, ``data``) are created.
    Pass 1 checks only the nodes the overrides wrote (``raw`` passed it whole), unless one
    of them fails: then the whole document, for the same message as a file would get.
    """
    label = _label(strategy.source, " with overrides")
    data = raw_dict(strategy)
    changed: list[tuple[str, ...]] = []
    for dotted, value in overrides.items():
        parts = _check_path(dotted, label)
        if parts[0] == "analysts" and parts[1] not in data.get("analysts", {}):
            raise StrategyError(
                f"{label}cannot set `{dotted}`: analyst `{parts[1]}` is not configured; "
                f"add `analysts.{parts[1]}` to the strategy file first"
            )
        node, top = data, len(parts)
        for depth, part in enumerate(parts[:-1]):
            if part not in node:  # a block created here: checked whole
                top = min(top, depth + 1)
                node[part] = {}
            node = node[part]
        node[parts[-1]] = _plain(value)
        changed.append(tuple(parts[:top]))
    return _build(data, strategy.source, label, changed if _local_schema() else None)


@functools.cache
def _local_schema() -> bool:
    """Whether pass 1 decides every node on its own: no keyword anywhere in the schema
    relates a node to its siblings or ancestors (conditionals, combinators, references,
    property counts), so a document that passed stays valid when a node is replaced by
    one that fits that node's schema (``additionalProperties`` and ``required`` only see
    keys, and ``apply_overrides`` only writes keys the schema lists)."""
    relating = {"if", "then", "else", "allOf", "anyOf", "oneOf", "not", "dependentRequired",
                "dependentSchemas", "dependencies", "$ref", "$dynamicRef", "propertyNames",
                "patternProperties", "unevaluatedProperties", "minProperties", "maxProperties"}

    def local(node: Any) -> bool:
        if isinstance(node, dict):
            return not relating & node.keys() and all(map(local, node.values()))
        return all(map(local, node)) if isinstance(node, list) else True

    return local(_schema())


def _fits(path: tuple[str, ...], data: Mapping[str, Any]) -> bool:
    """Whether the node at ``path`` of ``data`` fits its own schema node (pass 1)."""
    value = data
    for part in path:
        value = value[part]
    try:
        return _scalar_fits(path, type(value), value)
    except TypeError:  # unhashable: a block, a list
        return _node_validator(path).is_valid(value)


@functools.lru_cache(maxsize=4096)
def _scalar_fits(path: tuple[str, ...], kind: type, value: Any) -> bool:
    """``_fits`` of a scalar, cached: a grid sets the same values again and again (``kind``
    keeps ``1``, ``1.0`` and ``True`` apart)."""
    return _node_validator(path).is_valid(value)


@functools.cache
def _node_validator(path: tuple[str, ...]) -> Any:
    node = _schema()
    for part in path:
        node = node["properties"][part]
    return _Validator(node)


def get_value(strategy: Strategy, dotted: str) -> Any:
    """The effective value at a dotted path, defaults included.

    A weight not given is 0.0; a parameter of an analyst the strategy does not configure is None.
    """
    parts = _check_path(dotted, _label(strategy.source))
    if parts[:2] == ["ensemble", "analyst_weights"]:
        return strategy.ensemble.analyst_weights.get(parts[2], 0.0)
    node: Any = strategy
    for part in parts:
        node = getattr(node, part)
        if node is None:
            return None
    return node


def _canonical(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return float(value) if _is_int(None, value) else value


def strategy_hash(strategy: Strategy) -> str:
    """sha256 of the canonical JSON of ``raw`` without ``metadata``.

    Keys are sorted and every number is written as a float, so ``100`` and ``100.0`` hash alike.
    """
    body = {k: v for k, v in raw_dict(strategy).items() if k != "metadata"}
    text = json.dumps(_canonical(body), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
