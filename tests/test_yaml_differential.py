"""Issue #11 item 4: the ruamel reader must give every YAML document the meaning PyYAML gave
it. A corpus of documents is read by the old PyYAML path (kept here only, as the oracle) and
by ``domain.safe_yaml``; values must be equal with equal types and key order, or both must fail.
"""

from __future__ import annotations

import datetime
import math
import random
from pathlib import Path
from typing import Any, ClassVar

import pytest
import yaml
from yaml.composer import ComposerError

from otonom_trader.domain import safe_yaml
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.grid import _GridLoader
from otonom_trader.domain.strategy_loader import _StrictLoader
from tests.test_hostile_input import HOSTILE

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- the oracle: the old reader


class _OldBounded(yaml.SafeLoader):
    """The PyYAML reader as it was before ruamel (bounds in the composer)."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self._depth = 0
        self._open: set[int] = set()
        self._sizes: dict[int, int] = {}
        self._expanded = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        if parent is not None:
            self._open.add(id(parent))
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                if id(target) in self._open:
                    raise ComposerError(None, None, "recursive alias", event.start_mark)
                self._expanded += self._sizes[id(target)]
                if self._expanded > safe_yaml.MAX_ALIAS_NODES:
                    raise ComposerError(None, None, "alias bomb", event.start_mark)
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > safe_yaml.MAX_DEPTH:
            raise ComposerError(None, None, "too deep", self.peek_event().start_mark)
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


class _OldStrict(_OldBounded):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: dict[tuple[str, str], yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            first = seen.setdefault((key_node.tag, key_node.value), key_node)
            if first is not key_node:
                raise yaml.constructor.ConstructorError(problem="duplicate key",
                                                        problem_mark=key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


class _OldGrid(_OldStrict):
    yaml_implicit_resolvers: ClassVar[dict] = {
        first: [(tag, rx) for tag, rx in resolvers if not tag.endswith(":timestamp")]
        for first, resolvers in _OldStrict.yaml_implicit_resolvers.items()
    }


LOADERS = {"bounded": (_OldBounded, safe_yaml.BoundedLoader),
           "strict": (_OldStrict, _StrictLoader),
           "grid": (_OldGrid, _GridLoader)}


def _old(text: str, loader: type) -> tuple[str, Any]:
    """("ok", value) or ("error", line or None); PyYAML's own crashes (KeyError on
    ``!!bool maybe``...) count as errors: the new reader reports them as one line."""
    if len(text.encode("utf-8", "surrogatepass")) > safe_yaml.MAX_BYTES:
        return "error", None
    try:
        return "ok", yaml.load(text, Loader=loader)  # a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        return "error", exc.problem_mark.line + 1 if exc.problem_mark else None
    except (yaml.YAMLError, ValueError, KeyError, IndexError, AttributeError, TypeError,
            RecursionError):
        return "error", None


def _new(text: str, loader: type) -> tuple[str, Any]:
    try:
        return "ok", safe_yaml.parse_yaml(text, "doc.yaml", loader)
    except InputError as exc:
        message = str(exc)
        assert message.startswith("doc.yaml: ") and "\n" not in message.rstrip(), message
        if "at line " in message:
            return "error", int(message.split("at line ")[1].split(",")[0])
        return "error", None


def _typed(value: Any) -> Any:
    """``value`` with every type, key order and float spelt out (so 1 != 1.0 != True)."""
    if isinstance(value, dict):
        return ("dict", [(_typed(k), _typed(v)) for k, v in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [_typed(v) for v in value])
    if isinstance(value, set | frozenset):
        return (type(value).__name__, sorted(repr(_typed(v)) for v in value))
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    if isinstance(value, datetime.datetime):
        return ("datetime", value.isoformat(), repr(value.tzinfo), value.tzname())
    return (type(value).__name__, repr(value))


# ---------------------------------------------------------------- the corpus

SCALARS = [
    # booleans, YAML 1.1 and not
    "yes", "Yes", "YES", "no", "No", "NO", "y", "Y", "n", "N", "true", "True", "TRUE", "false",
    "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF", "tRue", "yEs", "oN", "nO",
    # nulls
    "~", "null", "Null", "NULL", "nUll", "", "none", "None",
    # integers
    "0", "00", "010", "-010", "+010", "0o10", "0O10", "08", "09", "0_7", "07_", "019", "0x1F",
    "0X1F", "0x_1f", "-0x1F", "0b101", "-0b101", "0B101", "0b", "0b2", "1_000", "1__0", "1_",
    "-_", "+_", "_1", "1:30", "-1:30", "1:30:00", "190:20:30", "1:60", "1:5", "01:30", "0:30",
    "+1", "+0", "-0", "12345678901234567890123", "-1", "1 2",
    # floats
    "1.0", "1.", ".5", "-.5", "+.5", "._5", "1e3", "1E3", "-1e3", "1e+3", "1e-3", "1.5e3",
    "1.5e+3", "1.5E-3", "1.e+3", ".5e+3", ".5e3", "6.8523015e+5", "685.230_15e+03",
    "685_230.15", "190:20:30.15", "1:30.5", "-1:30.5", "0.1", "-0.0", "+12.5", "1_000.5",
    "1.0e+309", "-1.0e+309", "1.0e-400", ".inf", "-.inf", "+.inf", ".Inf", ".INF", ".iNf",
    "inf", "-inf", "infinity", ".nan", ".NaN", ".NAN", "nan", "NaN", "-.nan", "1.2.3", "1,5",
    "3.14159265358979323846264338327950288", "0.30000000000000004", "1e", "e3",
    # dates and times
    "2001-12-14", "2002-12-14", "2001-1-1", "2020-13-01", "2020-02-30", "0000-01-01",
    "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z",
    "2001-12-14T21:59:43.1234567Z", "2001-12-14T21:59:43.9999999Z", "2001-12-14 21:59:43",
    "2001-12-14T21:59:43+01:00", "2001-12-14T21:59:43+00:00", "2001-12-14T21:59:43 Z",
    "2001-12-14T21:59:43.", "2001-12-14 1:02:03", "2001-12-14T21:59", "2001-12-14T25:00:00",
    "2001-12-14   21:59:43.5   +05:30", "2020-01-01T00:00:00-00:00", "20:59:43",
    # YAML-looking text
    "=", "<<", "!", "a=b", "x: y", "foo", "foo bar", "-", "--", "---x", "a,b", "[a]",
    "'quoted'", '"double"', "'it''s'", '"tab\\there"', '"\\x41\\u263A\\U0001F600"', '"\\N\\_"',
    '"\\e\\a\\0"', "'multi\n  line'", "café", "日本語", "🙂", '"\\ud83d"', "a # comment",
    "a#b", "http://example.com:8080/x?y=1", "C:\\path", "@at", "`tick`", "%percent",
]
SCALAR_DOCS = [t for s in SCALARS for t in (f"k: {s}\n", f"- {s}\n- [{s}]\n", f"{s}: v\n")]

TAGGED = [
    "!!int 10", "!!int 010", "!!int 0o10", "!!int 1:30", "!!int x", "!!int ''", "!!int 1.5",
    "!!int 0b", "!!float 1", "!!float 1e3", "!!float .inf", "!!float x", "!!float ''",
    "!!float 1:30", "!!str 10", "!!str yes", "!!str", "!!bool yes", "!!bool y", "!!bool maybe",
    "!!bool TRUE", "!!null ''", "!!null x", "!!binary aGVsbG8=", "!!binary '!!'",
    "!!binary é", "!!timestamp 2001-12-14", "!!timestamp x", "!!timestamp 2001-12-14T1:2:3",
    "!!omap [a: 1, b: 2]", "!!omap [a: 1, a: 2]", "!!omap {a: 1}", "!!omap [a]",
    "!!omap [{a: 1, b: 2}]", "!!pairs [a: 1, a: 2]", "!!pairs x", "!!set {a, b, a}",
    "!!set {a: 1}", "!!seq [1, 2]", "!!seq {a: 1}", "!!map {a: 1}", "!!map [1]", "!!merge <<",
    "!!value =", "!<tag:yaml.org,2002:int> 7", "!<!foo> x", "!foo x", "! 12", "! yes",
    "!!python/object:os.system ls", "!!python/name:os.system", "!!python/tuple [1, 2]",
    "%TAG !e! tag:yaml.org,2002:\n---\n!e!int 12", "%TAG !e! tag:example.com,2000:\n---\n!e!x 1",
]
TAGGED_DOCS = [t for s in TAGGED for t in (f"{s}\n", f"k: {s}\n", f"- {s}\n")]

STRUCTURES = [
    "", "\n", "# only a comment\n", "---\n", "--- \n...\n", "...\n", "---\n---\n",
    "a: 1\n---\nb: 2\n",
    "--- 1\n", "%YAML 1.1\n---\nk: 010\n", "%YAML 1.2\n---\nk: 010\n", "%YAML 2.0\n---\nk: 1\n",
    "%YAML 1.1\n%YAML 1.1\n---\n", "%FOO bar\n---\nk: 1\n",
    "a: {b: [1, {c: d}], e: []}\n", "a:\n  b:\n    - 1\n    - - 2\n      - 3\n  c: {}\n",
    "- a\n- b:\n    c\n- - x\n  - y\n", "[1, [2, [3, [4]]]]\n", "{a: {b: {c: {d: 1}}}}\n",
    "{a, b: , : c}\n", "[a: 1, b]\n", "{? a, ? b : c}\n", "? a\n? b\n: c\n",
    "? [1, 2]\n: x\n", "? {a: 1}\n: x\n", "[1, 2]: x\n", "{[1, 2]: x}\n", "? !!set {a}\n: x\n",
    "a: 1\na: 2\n", "a: 1\nb: 2\na: 3\n", "1: a\n'1': b\n1.0: c\ntrue: d\n", "~: a\nnull: b\n",
    "a: &x 1\nb: *x\n", "a: &x [1, 2]\nb: *x\nc: *x\n", "a: &x 1\nb: &x 2\nc: *x\n",
    "a: *nope\n", "&a a: &b b\n*a : *b\n", "- &a\n- *a\n", "a: &x {b: &y [1], c: *y}\nd: *x\n",
    "base: &b {a: 1, b: 2}\nd: {<<: *b, b: 3, c: 4}\n",
    "b1: &b1 {a: 1, b: 1}\nb2: &b2 {b: 2, c: 2}\nd: {<<: [*b1, *b2], d: 4}\n",
    "b1: &b1 {a: 1, b: 1}\nb2: &b2 {b: 2, c: 2}\nd: {<<: *b1, <<: *b2}\n",
    "b1: &b1 {a: 1}\nb2: &b2 {a: 2, <<: *b1}\nd: {<<: *b2, e: 5}\n",
    "b: &b {a: 1}\nd: {e: 5, <<: *b, f: 6, a: 7}\n", "d: {<<: {a: 1}, a: 2}\n",
    "d: {<<: 1}\n", "d: {<<: [1]}\n", "d: {<<: [{a: 1}, 2]}\n", "d: {<<: []}\n", "<<: {a: 1}\n",
    "b: &b {a: 1, a: 2}\nd: {<<: *b}\n", "d: {<<: {a: 1}, a: 1}\n", "d: [<<]\n",
    "d: {=: 1}\n", "d: {=: 1, a: 2}\n", "!!set\n? a\n? b\n", "- !!omap\n  - a: 1\n  - b: 2\n",
    "text: |\n  line 1\n  line 2\n", "text: >\n  folded\n  text\n\n  para\n",
    "text: |-\n  x\n\n", "text: |+\n  x\n\n", "text: |2\n   indented\n", "text: >-\n  a\n  b\n",
    "text: 'multi\n  line'\n", 'text: "multi\\\n  line"\n', "text: plain\n  continued\n",
    "a:\tb\n", "a: b\t\n", "\ta: b\n", "a: [1,\t2]\n", "a: b\r\nc: d\r\n", "\ufeffa: b\n",
    "a: b\x07\n", "a: \x85b\n", "a: b\u2028c\n", "a: \U0001F600\n", "\u00e9: \u00e8\n",
    "a: 'b\n", 'a: "b\n', "a: [1, 2\n", "a: {b: 1\n", "a: b: c\n", "- a\nb: c\n",
    "a:\n- b\n", "a:\n  - b\n c: d\n", "a: b\n  c: d\n", "[a, b]]\n", "{a: b}}\n", "@a\n",
    "`a`\n", "a: |\n b\n  c\n", "- - - - - x\n", "? ? ? x\n", "a: -\n", "a: - b\n",
    "key with spaces: v\n", "'quoted key': v\n", '"k\\n": v\n', "? |\n  block key\n: v\n",
    "a: !!binary |\n  aGVsbG8g\n  d29ybGQ=\n", "a: [1, 2, 3,]\n", "a: {b: 1,}\n", "[,]\n",
    "a: 1 # c\n# c\nb: 2\n", "a: 'x' # c\n", "a: x#y\n", "a: &anchor\n", "a: *\n", "&a\n",
    "a: !!int\n", "a: !!str\n", "a: !\n", "- ? a\n  : b\n", "a: [b, c]: d\n",
    "{a: 1, a: 2}\n", "{a: 1, b: {a: 1, a: 2}}\n", "[{a: 1, a: 2}]\n", "a: 1\n'a': 2\n",
    "yes: 1\ntrue: 2\n", "010: a\n8: b\n", "1:30: a\n90: b\n", "1e3: a\n'1e3': b\n",
    "2001-12-14: a\n", "'2001-12-14': a\n",
    # escapes, anchors, tags, keys and line ends where YAML 1.1 and 1.2 scanners may differ
    '"\\/"\n', '"\\ "\n', '"a\\\tb"\n', '"\\L\\P"\n', '"\\v\\f\\r\\b"\n',
    '"\\x4"\n', '"\\u12"\n', '"\\q"\n', "'\\n'\n", '"a\n  b\n\n  c"\n',
    "a: &x.y 1\nb: *x.y\n", "a: &x: 1\n", "a: &é 1\nb: *é\n", "a: &x-y_z 1\nb: *x-y_z\n",
    "!foo!bar x\n", "!<tag:yaml.org,2002:str> 1\n", "!!str&a x\n", "&a !!str x\n",
    "[a:b]\n", "{a:b}\n", "[http://x.y]\n", "{a: b:c}\n", "[a: b: c]\n", "{? a: b}\n",
    "[? a]\n", "[-1, - 2]\n", "[a, -]\n", "{a: [}\n", ": a\n", "? : x\n", "?\n",
    "--- a: 1\n", "--- |\n  text\n", "--- >\n text\n", "a: 1\n...\nb: 2\n",
    "a: 1\n... # c\n", "a: 1\rb: 2\r", "a: 1\r\n\r\nb: 2\n", "a: b\ufeffc\n",
    "k" * 1100 + ": v\n", "'" + "k" * 1100 + "': v\n", "a: |  # c\n  x\n",
    "a: b # c\n  d\n", "a: b\n  # c\n  d\n", "a:\n\n  b\n", "a: |\n\n  b\n",
    "a: >\n\n  b\n  \n  c\n", "a: |0\n  x\n", "a: |10\n  x\n", "a: |-+\n  x\n",
    "- |\n  a\n- >-\n  b\n", "a:\n  - b\n  -\n  - c\n", "a: [b, [c, [d]], {e: [f]}]\n",
    "0123: a\n", "019: a\n", "1_0:30: a\n", "0x: a\n", "0b_: a\n", "1.5_0: a\n",
    "? - a\n  - b\n: c\n", "? |\n  k\n: |\n  v\n", "{a: 1, b: 2, c: {d: 3}}: x\n",
    "- a: 1\n  b: 2\n- c: 3\n", "-\n  a: 1\n", "- - a\n  - b\n- c\n", "- -\n",
    "a: !!str\n  b\n", "a: !!int\n  10\n", "a:\n  !!map\n  b: 1\n", "a: !!seq\n- b\n",
    "a:    b   \n", "a   : b\n", "a :b\n", "a:b\n", "'a':b\n", '"a":b\n', "a: 'b':c\n",
    "a: b?c\n", "[a?b]\n", "{a?: b}\n", "a: b#c\n", "[a#b]\n", "[a #b]\n", "[?a]\n",
    "a?: b\n", "- ?x\n", "[a, ?b]\n", "{a: b, c:d}\n", "[:a]\n", "[a:]\n", "{'a':b}\n",
    '{"a":b}\n', '["a":b]\n', "{a: 1, ? b}\n", "[a, b]: c\n", "- a: 1\n  - b\n",
    "{a: {b: {c: [1, 2, {d: e}]}}, f: g}\n", "[[[[]]], {}, [{}]]\n", "a: !!null\n",
    "a: - b\n  - c\n", "- a\n -b\n", "a: 1\n b: 2\n", "a:\n    b: 1\n  c: 2\n",
    "{a:}\n", "[a:, b]\n", "{a:, b: 1}\n", "{a:[1, 2]}\n", "{a:{b: 1}}\n", "[a:[1]]\n",
    '{"a":[1]}\n', "{a:1}\n", "k: {fast:[5, 10], slow:[20]}\n", "{a:\n b}\n", "[a:\n]\n",
    "{a: b:}\n", "[a:{}]\n", "{a:,}\n", "[a::]\n", "[a:?]\n", "[a b\n c:]\n", "{a b:}\n",
    "[a:],\n", "- [x:]\n- {y:}\n", "{a: [b:], c: {d:}}\n", "[a:b:]\n", "a: b:]\n",
]

_YAML_FILES = sorted(p for pattern in ("strategies/*.yaml", "grids/*.yaml", "deployments/*.yaml",
                                       "params.yaml", "dvc.yaml", "dvc.lock", ".github/**/*.yml",
                                       "experiments/**/*.yaml") for p in REPO.glob(pattern))
FILES = [p.read_text() for p in _YAML_FILES]


def _merge_dos(levels: int = 7) -> str:
    """The merge-key expansion of yaml/pyyaml#916: 8 merges of 8 merges of ..."""
    lines = ["n0: &n0 {" + ", ".join(f"k{i}: {i}" for i in range(8)) + "}"]
    for level in range(1, levels):
        names = [f"x{level}_{i}" for i in range(8)]
        lines += [f"{n}: &{n} {{<<: *n{level - 1}}}" for n in names]
        lines.append(f"n{level}: &n{level} {{<<: [" + ", ".join(f"*{n}" for n in names) + "]}")
    return "\n".join(lines) + "\n"


HOSTILE_DOCS = [text for text, _ in HOSTILE.values()] + [_merge_dos(), _merge_dos(3),
    "a: [" * 33 + "]" * 33 + "\n", "a: [" * 30 + "]" * 30 + "\n",
    "a: &a [" + ", ".join(["x"] * 5000) + "]\nb: [*a, *a]\n",
    "a: &a [" + ", ".join(["x"] * 5000) + "]\nb: [*a]\n", "x" * (safe_yaml.MAX_BYTES + 1),
]

CORPUS_ALL = SCALAR_DOCS + TAGGED_DOCS + STRUCTURES + FILES + HOSTILE_DOCS

# Where the libraries disagree, the new reader's result, decided and reported (issue #11):
_B1, _B2 = {"a": 1, "b": 1}, {"b": 2, "c": 2}
_MERGES = "b1: &b1 {a: 1, b: 1}\nb2: &b2 {b: 2, c: 2}\n"
KNOWN = {
    # PyYAML 6.0.4 regressed merge keys (yaml/pyyaml#953): which of two merged values wins
    # depends on CPython interning the key's text. The reader keeps the YAML merge spec and
    # PyYAML <= 6.0.3: earlier mappings in `<<: [...]` win, the mapping's own keys win.
    _MERGES + "d: {<<: [*b1, *b2], d: 4}\n":
        {"b1": _B1, "b2": _B2, "d": {"b": 1, "c": 2, "a": 1, "d": 4}},
    "b1: &b1 {kk: 1, aa: 1}\nb2: &b2 {kk: 2}\nd: {<<: [*b1, *b2]}\n":
        {"b1": {"kk": 1, "aa": 1}, "b2": {"kk": 2}, "d": {"kk": 1, "aa": 1}},
    _MERGES + "d: {<<: *b1, <<: *b2}\n": {"b1": _B1, "b2": _B2, "d": {"a": 1, "b": 2, "c": 2}},
    "b1: &b1 {a: 1}\nb2: &b2 {a: 2, <<: *b1}\nd: {<<: *b2, e: 5}\n":
        {"b1": {"a": 1}, "b2": {"a": 2}, "d": {"a": 2, "e": 5}},
    "b: &b {a: 1, a: 2}\nd: {<<: *b}\n": {"b": {"a": 2}, "d": {"a": 2}},
    # A tab in a flow collection: PyYAML refused it, ruamel reads a space.
    "a: [1,\t2]\n": {"a": [1, 2]}, "- [a,\tb]\n": [["a", "b"]], "{a:\t1}\n": {"a": 1},
    # A tag spelt `!!!str`: PyYAML refused it, ruamel reads `!!str`.
    "!!!str x\n": "x", "!!!int 1\n": 1,
    # NEL, LS and PS break lines in YAML 1.1 only; read differently by ruamel, so refused.
    "a: b\u2028c\n": "error", "- a\x85- b\n": "error", "a: b\n\u2029c: d\n": "error",
    "a: 'b\u2028c'\n": "error", "# note\u2028a: 1\n": "error",
}
# Both refuse these, at other lines: after the directive; PyYAML counts NEL as a line break.
_ERROR_LINES = {"%percent: v\n", "a: \x85b\n"}
CORPUS = [text for text in CORPUS_ALL if text not in KNOWN]


# Random short documents from YAML's indicators and a few words: the scanner's corners.
_PIECES = [[*"ab1:-?,[]{}#&*!|>'\" %@`\n\t.0e+~=<",
    "yes", "null", "a: ", "- ", "? ", ": ", "---", "...", "&x ", "*x", "!!str ", "<<: ", "\n  ",
    "\n- ", "1e3", "010"], [
    "\n", "  ", " ", "a", "b:", "- ", "? ", ": ", "|", ">", "#c", "&x ", "*x", "[", "]", "{", "}",
    ",", "'q'", '"d"', "1", "yes", "---", "...", "<<: *x", "!!str", "~", "1:30", "2001-01-01",
    "%YAML 1.1\n", "|-", ">+", "|2", "\t", "\\", "é", "\n  ", "\n    ", "a: ", ":", "-", "?",
    '"a\\\nb"', "'a''b'"], [
    "\n", "\n  ", "\n    ", "\n- ", "\n  - ", "a: ", "b: ", "a:", "- ", "-", "? ", ": ", "x", "1",
    "&a ", "*a", "<<: ", "{", "}", "[", "]", ", ", "|", ">", "#c", "---\n", "...\n", "!!set ",
    "%YAML 1.1\n---\n", "!!omap ", "!!map ", "!!seq ", "'s'", '"d"', "~", "yes", "010", "=",
    "<<", "\n? ", "\n: "]]
_rng = random.Random(11)
FUZZ = sorted({"".join(_rng.choice(pieces) for _ in range(_rng.randint(1, 20)))
               for pieces in _PIECES for _ in range(2500)})
_SCALAR_CHARS = "0123456789._-+:eExXbBoOaAfinINFnNyYtTsSlLuU ~Z"  # numbers, dates, words
FUZZ += sorted({"k: " + tag + "".join(_rng.choices(_SCALAR_CHARS, k=_rng.randint(1, 9))) + "\n"
                for tag in ("", "!!float ", "!!int ", "!!timestamp ") for _ in range(600)})


# ---------------------------------------------------------------- the tests


def test_the_corpus_covers_the_forms_and_the_repository_files():
    assert len(CORPUS) > 600 and len(set(CORPUS)) == len(CORPUS)
    assert {p.name for p in _YAML_FILES} >= {"baseline_v1.yaml", "sma_cross.yaml",
                                             "baseline_grid.yaml", "params.yaml",
                                             "production.yaml", "dvc.lock"}


@pytest.mark.parametrize("loader", list(LOADERS))
def test_ruamel_reads_every_document_as_pyyaml_did(loader):
    old_loader, new_loader = LOADERS[loader]
    disagreements = []
    for text in CORPUS:
        (old_kind, old), (new_kind, new) = _old(text, old_loader), _new(text, new_loader)
        if old_kind != new_kind or (old_kind == "ok" and _typed(old) != _typed(new)):
            disagreements.append((text[:80], (old_kind, old), (new_kind, new)))
        elif old_kind == "error" and None not in (old, new) and old != new \
                and text not in _ERROR_LINES:
            disagreements.append((text[:80], ("error at line", old), ("error at line", new)))
    assert not disagreements, "\n".join(map(repr, disagreements))


def test_random_documents_read_as_pyyaml_read_them():
    """Equal values, or both refuse; ruamel may read what PyYAML refused only where KNOWN
    says so: a tab in a flow collection, a `!!!` tag."""
    disagreements = []
    for text in FUZZ:
        (old_kind, old), (new_kind, new) = (_old(text, _OldBounded),
                                            _new(text, safe_yaml.BoundedLoader))
        if old_kind == "error" and new_kind == "ok" and ("\t" in text or "!!!" in text):
            continue
        if old_kind != new_kind or (old_kind == "ok" and _typed(old) != _typed(new)):
            disagreements.append((text, (old_kind, old), (new_kind, new)))
    assert len(FUZZ) > 9000 and not disagreements, "\n".join(map(repr, disagreements))


@pytest.mark.parametrize("text", list(KNOWN))
def test_where_the_libraries_disagree_the_reader_keeps_the_rule(text):
    kind, value = _new(text, safe_yaml.BoundedLoader)
    if KNOWN[text] == "error":
        assert kind == "error", (text, value)
    else:
        assert kind == "ok" and _typed(value) == _typed(KNOWN[text]), (text, value)


def test_the_comparison_can_tell_the_forms_apart():
    """The comparison itself sees type, order and time-zone differences."""
    utc = datetime.UTC
    pairs = [(1, 1.0), (1, True), ({"a": 1, "b": 2}, {"b": 2, "a": 1}), ([1], (1,)),
             (datetime.datetime(2001, 1, 1, tzinfo=utc),
              datetime.datetime(2001, 1, 1, tzinfo=datetime.timezone(datetime.timedelta(0),
                                                                     "Z"))),
             ("1", 1), (float("nan"), float("inf")), (datetime.date(2001, 1, 1), "2001-01-01")]
    for a, b in pairs:
        assert _typed(a) != _typed(b), (a, b)
    assert _typed(float("nan")) == _typed(float("nan"))


# ---------------------------------------------------------------- writing


def _document(rng: random.Random, depth: int = 0) -> Any:
    """A random value of the shapes best_params.yaml and refined grids hold."""
    leaves = [lambda: rng.choice(SCALARS), lambda: rng.randint(-10**20, 10**20),
              lambda: rng.choice([0.1, 0.1 + 0.2, 1e17, 1e-5, -0.0, 2.0, 1e300, float("inf"),
                                  -float("inf"), float("nan"), rng.uniform(-1e6, 1e6)]),
              lambda: rng.choice([True, False, None])]
    if depth >= 3 or rng.random() < 0.3:
        return rng.choice(leaves)()
    if rng.random() < 0.5:
        return [_document(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = [rng.choice([rng.choice(SCALARS), rng.randint(-5, 5), rng.choice(SCALARS)])
            for _ in range(rng.randint(0, 5))]
    return {k: _document(rng, depth + 1) for k in keys}


WRITTEN = [_document(random.Random(seed)) for seed in range(300)] + [
    {"experiment": "baseline_v1_grid", "run_number": 43, "selected_by": "test sharpe",
     "params": {"risk.risk_pct": 2.0, "tech.fast_window": 20, "tech.ma_type": "ema"}},
    {}, {"description": "it's\nmulti-line", "params": {"a": [1, 2.5, "yes"]}},
    {"k" * 126: 1, "k" * 127: 2, "k" * 128: 3, "é" * 127: 4, "": ""},
]


@pytest.mark.parametrize("allow_unicode", [False, True])
def test_the_writer_writes_the_bytes_pyyaml_wrote_and_they_read_back(allow_unicode):
    for data in WRITTEN:
        text = safe_yaml.dump_yaml(data, allow_unicode=allow_unicode)
        assert text == yaml.safe_dump(data, sort_keys=False, allow_unicode=allow_unicode)
        if not any(c in text for c in "\x85\u2028\u2029"):  # refused on reading, see KNOWN
            assert _typed(safe_yaml.parse_yaml(text, "w.yaml")) == _typed(data), text
