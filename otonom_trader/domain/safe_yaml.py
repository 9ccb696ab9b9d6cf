"""THE YAML reader for every file a user or a pull request gives us (strategies, grids,
``params.yaml``, deployments, ``dvc.lock``), and the writer of the YAML we generate: ruamel.yaml
(safe, pure Python), reading YAML 1.1 exactly as PyYAML read these files before (``yes``/``on``
are true, ``y`` and ``1e3`` are text, ``010`` is 8, ``1:30`` is 90, a repeated key keeps its
last value), with bounds:

* size: at most ``MAX_BYTES``, checked before the file is read;
* nesting: at most ``MAX_DEPTH`` levels, counted while composing (no RecursionError);
* aliases: an alias to a node still being composed (a recursive alias) is refused, and all
  aliases together may add at most ``MAX_ALIAS_NODES`` nodes when expanded, so an alias bomb
  ("billion laughs") fails at once instead of being expanded by a later deep copy.

Where ruamel reads differently (tests/test_yaml_differential.py holds the evidence): NEL, LS
and PS characters (line breaks in YAML 1.1 only) are refused; merge keys follow the YAML spec
as PyYAML up to 6.0.3 read them (6.0.4 lets the last merged value win for keys of two or more
characters, yaml/pyyaml#953); a tab in a flow collection and a tag spelt ``!!!str``, which PyYAML
refused, are read.
Problems are one ``InputError`` (or the caller's subclass) naming the file and the line.
"""

from __future__ import annotations

import datetime
import io
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any, ClassVar

from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.constructor import ConstructorError, SafeConstructor
from ruamel.yaml.emitter import Emitter
from ruamel.yaml.error import YAMLError
from ruamel.yaml.events import AliasEvent, ScalarEvent
from ruamel.yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from ruamel.yaml.reader import ReaderError
from ruamel.yaml.representer import SafeRepresenter
from ruamel.yaml.resolver import BaseResolver
from ruamel.yaml.scalarstring import SingleQuotedScalarString
from ruamel.yaml.scanner import Scanner, ScannerError

from otonom_trader.domain.errors import InputError

__all__ = ["MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "BoundedLoader", "dump_yaml",
           "parse_yaml", "quoted_as_text", "read_yaml"]

MAX_BYTES = 1_000_000
MAX_DEPTH = 32
MAX_ALIAS_NODES = 10_000
_OLD_BREAKS = re.compile("[\x85\u2028\u2029]")
_ANCHOR_CHAR = re.compile("[0-9A-Za-z_-]")


class BoundedComposer(Composer):
    """ruamel's composer, bounding nesting depth and alias expansion; a repeated anchor is
    an error (YAML 1.1), not a warning."""

    def __init__(self, loader: Any = None):
        super().__init__(loader)
        self._depth = 0
        self._open: set[int] = set()  # collections whose children are being composed
        self._sizes: dict[int, int] = {}  # id(node) -> nodes once its aliases are expanded
        self._expanded = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node:
        if parent is not None:
            self._open.add(id(parent))
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
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
                                event.start_mark)
        if event.anchor is not None and event.anchor in self.anchors:
            raise ComposerError(f"found duplicate anchor {event.anchor!r}; first occurrence",
                                self.anchors[event.anchor].start_mark, "second occurrence",
                                event.start_mark)
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        self._open.discard(id(node))
        if isinstance(node, SequenceNode):
            size = 1 + sum(self._sizes[id(v)] for v in node.value)
        elif isinstance(node, MappingNode):
            size = 1 + sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        else:
            size = 1
        self._sizes[id(node)] = size
        return node


class Yaml11Scanner(Scanner):
    """ruamel's scanner with YAML 1.1's (PyYAML's) rules where they differ: a plain scalar in
    a flow collection ends at a ``:`` right before ``,[]{}`` (``{fast:[5, 10]}`` is
    ``{fast: [5, 10]}``, ruamel: an error; ``[a:]`` is ``[{a: null}]``, ruamel: ``['a:']``);
    anchor and alias names are letters, digits, ``-`` and ``_`` (``&a: x`` is an anchor on an
    empty key, ruamel: the anchor ``a:``); a block scalar's leading blank lines may hold fewer
    spaces than its first line (ruamel: an error)."""

    def scan_block_scalar_indentation(self) -> Any:
        reader = self.reader
        chunks, max_indent, end_mark = [], 0, reader.get_mark()
        while reader.peek() in " \r\n":  # NEL, LS and PS were refused before
            if reader.peek() != " ":
                chunks.append(self.scan_line_break())
                end_mark = reader.get_mark()
            else:
                reader.forward()
                max_indent = max(max_indent, reader.column)
        return chunks, max_indent, end_mark

    def scan_anchor(self, TokenClass: Any) -> Any:  # ruamel's signature
        reader = self.reader
        start_mark = reader.get_mark()
        what = f"while scanning an {'alias' if reader.peek() == '*' else 'anchor'}"
        reader.forward()
        length = 0
        while _ANCHOR_CHAR.match(reader.peek(length)):
            length += 1
        found = reader.peek(length)
        if length and found in "\0 \t\r\n\x85\u2028\u2029?:,]}%@`":
            value = reader.prefix(length)
            reader.forward(length)
            return TokenClass(value, start_mark, reader.get_mark())
        reader.forward(length)
        raise ScannerError(what, start_mark, "expected alphabetic or numeric character, but "
                           f"found {found!r}", reader.get_mark())

    def scan_plain(self) -> Any:
        token = super().scan_plain()
        reader = self.reader
        if self.flow_level and token.value.endswith(":") and reader.peek() in ",[]{}":
            reader.pointer -= 1  # give the `:` back: it is the value indicator; it is on
            reader.index -= 1  # this line, right before the indicator just peeked at
            reader.column -= 1
            token.value = token.value[:-1]
            token.end_mark = reader.get_mark()
        return token


class Yaml11Resolver(BaseResolver):
    """YAML 1.1 plain scalars as the files have always been read (PyYAML's table): unlike
    ruamel's 1.1 table, ``y``/``n`` stay text and a float needs a dot and a signed exponent."""

    def __init__(self, version: Any = None, loader: Any = None, loadumper: Any = None):
        super().__init__(loader if loader is not None else loadumper)  # `version`: no effect

    @property
    def processing_version(self) -> tuple[int, int]:
        return (1, 1)  # for the constructor: ``010`` is octal, ``1:30`` sexagesimal


for _tag, _rx, _first in (
    ("bool", r"""^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE
              |on|On|ON|off|Off|OFF)$""", "yYnNtTfFoO"),
    ("float", r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
              |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?
              |[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*
              |[-+]?\.(?:inf|Inf|INF)
              |\.(?:nan|NaN|NAN))$""", "-+0123456789."),
    ("int", r"""^(?:[-+]?0b[0-1_]+
              |[-+]?0[0-7_]+
              |[-+]?(?:0|[1-9][0-9_]*)
              |[-+]?0x[0-9a-fA-F_]+
              |[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$""", "-+0123456789"),
    ("merge", r"^(?:<<)$", "<"),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("timestamp", r"""^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]
              |[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?
              (?:[Tt]|[ \t]+)[0-9][0-9]?
              :[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?
              (?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$""", "0123456789"),
    ("value", r"^(?:=)$", "="),
):
    Yaml11Resolver.add_implicit_resolver_base(f"tag:yaml.org,2002:{_tag}",
                                              re.compile(_rx, re.X), list(_first))
_RESOLVER = Yaml11Resolver()  # what a plain scalar reads as (``quoted_as_text``)


class Yaml11Constructor(SafeConstructor):
    """ruamel's safe constructor, giving the values the files have always had: every ``<<``
    merges and a repeated key keeps its last value, a sequence is no mapping key, ``!!omap``
    is a list of pairs, a timestamp's fraction is cut (not rounded) to microseconds."""

    bool_values: ClassVar[dict[str, bool]] = {"yes": True, "no": False, "true": True,
                                               "false": False, "on": True, "off": False}

    def flatten_mapping(self, node: MappingNode) -> None:
        merged: list = []
        own = []
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged.extend(self._merged(node, value_node))
            else:
                if key_node.tag == "tag:yaml.org,2002:value":
                    key_node.tag = "tag:yaml.org,2002:str"
                own.append((key_node, value_node))
        node.value = merged + own

    def _merged(self, node: MappingNode, value_node: Node) -> list:
        """The (key, value) nodes a ``<<`` key adds; of a list, the first mapping wins."""
        subnodes = value_node.value if isinstance(value_node, SequenceNode) else [value_node]
        for subnode in subnodes:
            if not isinstance(subnode, MappingNode):
                what = ("a mapping for merging" if subnode is not value_node
                        else "a mapping or list of mappings for merging")
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       f"expected {what}, but found {subnode.id}",
                                       subnode.start_mark)
            self.flatten_mapping(subnode)
        return [pair for subnode in reversed(subnodes) for pair in subnode.value]

    def construct_mapping(self, node: Any, deep: bool = False) -> dict:
        if not isinstance(node, MappingNode):
            raise ConstructorError(None, None, f"expected a mapping node, but found {node.id}",
                                   node.start_mark)
        self.flatten_mapping(node)
        mapping: dict = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):
                raise ConstructorError("while constructing a mapping", node.start_mark,
                                       "found unhashable key", key_node.start_mark)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping

    def construct_yaml_float(self, node: Any) -> float:
        value = self.construct_scalar(node).replace("_", "").lower()
        if ":" in value or "e" not in value or "." in value.split("e")[0]:
            return super().construct_yaml_float(node)
        sign = -1 if value[0] == "-" else 1  # `!!float 1e3`, where ruamel would also warn
        return sign * float(value[1:] if value[0] in "+-" else value)

    def construct_yaml_omap(self, node: Any) -> Any:
        return self.construct_yaml_pairs(node)

    def construct_yaml_timestamp(self, node: Any, values: Any = None) -> Any:
        match = self.timestamp_regexp.match(node.value)
        if match is not None:
            values = match.groupdict()
            values["fraction"] = (values["fraction"] or "")[:6]  # cut, where ruamel rounds
        value = super().construct_yaml_timestamp(node, values)
        if isinstance(value, datetime.datetime) and value.tzinfo is not None:
            value = value.replace(tzinfo=datetime.timezone(value.utcoffset()))
        return value


for _tag in ("float", "omap", "timestamp"):
    Yaml11Constructor.add_default_constructor(_tag)


class BoundedLoader:
    """Which ruamel parts read a file; subclass to replace the constructor or resolver."""

    Constructor: ClassVar[type] = Yaml11Constructor
    Resolver: ClassVar[type] = Yaml11Resolver


def _at(text: str, position: int) -> str:
    before = text[:position]
    return f"line {before.count(chr(10)) + 1}, column {position - before.rfind(chr(10))}"


def _problem(exc: YAMLError, text: str) -> str:
    if isinstance(exc, ReaderError) and isinstance(exc.character, int):
        return (f"invalid YAML at {_at(text, exc.position)}: character "
                f"#x{exc.character:04x}: {exc.reason}")
    mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
    problem = (getattr(exc, "problem", None) or getattr(exc, "context", None)
               or str(exc).splitlines()[0])
    if mark is None:
        return f"invalid YAML: {problem}"
    return f"invalid YAML at line {mark.line + 1}, column {mark.column + 1}: {problem}"


def _old_line_break(text: str, source: str) -> str | None:
    """YAML 1.1 breaks lines at NEL, LS and PS as well; ruamel does not, so a file with one
    would change meaning: it is refused instead."""
    found = _OLD_BREAKS.search(text)
    if found is None:
        return None
    return (f"{source}: invalid YAML at {_at(text, found.start())}: character "
            f"#x{ord(found.group()):04x} (a line break in YAML 1.1 only) is not allowed; "
            "write a plain line break, or the escape \\x85, \\u2028 or \\u2029 inside "
            "double quotes")


def _too_big(source: str) -> str:
    return f"{source}: larger than {MAX_BYTES:,} bytes, the limit for a YAML file"


def _yaml(loader: type) -> YAML:
    yaml = YAML(typ="safe", pure=True)
    yaml.Scanner = Yaml11Scanner
    yaml.Composer = BoundedComposer
    yaml.Constructor = loader.Constructor
    yaml.Resolver = loader.Resolver
    yaml.allow_duplicate_keys = True  # the last one wins, as always; strict loaders refuse
    yaml.top_level_block_style_scalar_no_indent_error_1_1 = True  # `|` then text at column 0
    return yaml


def parse_yaml(text: str, source: str, loader: type = BoundedLoader,
               error: type[InputError] = InputError) -> Any:
    """Parse ``text`` (from ``source``, named in errors) with ``loader`` (a BoundedLoader)."""
    if len(text) > MAX_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise error(_too_big(source))
    if (problem := _old_line_break(text, source)) is not None:
        raise error(problem)
    try:
        return _yaml(loader).load(text)
    except YAMLError as exc:
        raise error(f"{source}: {_problem(exc, text)}") from None
    except ValueError as exc:  # a value a constructor rejects, e.g. `!!int x`
        raise error(f"{source}: invalid YAML: {exc}") from None
    except LookupError:  # e.g. `!!bool maybe`, `!!int ''`
        raise error(f"{source}: invalid YAML: a value its `!!` tag does not allow") from None
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


class Yaml11Representer(SafeRepresenter):
    """ruamel's safe representer writing floats as YAML 1.1 reads them (``1.0e+17``, not
    ``1e+17``, which would read back as text)."""

    def represent_float(self, data: float) -> ScalarNode:
        node = super().represent_float(data)
        if "." not in node.value and "e" in node.value:
            node.value = node.value.replace("e", ".0e", 1)
        return node


Yaml11Representer.add_representer(float, Yaml11Representer.represent_float)


class Yaml11Emitter(Emitter):
    """ruamel's emitter writing what PyYAML wrote: text with a quote or a line break
    single-quoted (ruamel would double-quote it), an empty key as ``? ''``."""

    def check_simple_key(self) -> bool:
        if isinstance(self.event, ScalarEvent) and self.event.value == "":
            return False
        return super().check_simple_key()

    def choose_scalar_style(self) -> Any:
        style = super().choose_scalar_style()
        if (style == '"' and not self.event.style and not self.canonical
                and self.analysis.allow_single_quoted
                and not (self.simple_key_context and self.analysis.multiline)):
            return "'"
        return style


def dump_yaml(data: Any, allow_unicode: bool = False) -> str:
    """``data`` as block YAML in its own key order, quoted where YAML 1.1 (our reader) would
    read a plain scalar as something else: the bytes ``yaml.safe_dump`` wrote before."""
    yaml = YAML(typ="safe", pure=True)
    yaml.Representer = Yaml11Representer
    yaml.Emitter = Yaml11Emitter
    yaml.Resolver = Yaml11Resolver
    yaml.sort_base_mapping_type_on_output = False
    yaml.default_flow_style = False
    yaml.allow_unicode = allow_unicode
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def quoted_as_text(value: Any) -> Any:
    """``value`` (plain mappings, lists and scalars) with every string, key or value, that
    this reader would take for something else (``yes``, ``on``, ``1:30``, ``0b1``, ``1_000``)
    marked single-quoted, for ruamel's round-trip writer: it writes by YAML 1.2's rules, where
    those are plain text, so a new value ``yes`` would read back as true."""
    if isinstance(value, dict):
        return {quoted_as_text(k): quoted_as_text(v) for k, v in value.items()}
    if isinstance(value, list):
        return [quoted_as_text(v) for v in value]
    if isinstance(value, str) and _RESOLVER.resolve(ScalarNode, value, (True, False)) \
            != "tag:yaml.org,2002:str":
        return SingleQuotedScalarString(value)
    return value
