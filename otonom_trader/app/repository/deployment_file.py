"""Round-trip edits of ``deployments/production.yaml`` (comments and order kept)."""

from __future__ import annotations

import io

from otonom_trader.domain.deployment import PRODUCTION_FILE
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.safe_yaml import parse_yaml, quoted_as_text

__all__ = ["PRODUCTION_FILE", "with_entry_changes", "with_shadow_entry"]

_HEADER = ("# Desired state of production: merging a change here to main deploys it.\n"
           "#   stage: shadow (signals only) | paper (simulated fills) | live (real orders)\n"
           "#   capital_pct: share of the trading capital (live entries add up to at most 100)\n")


def with_shadow_entry(existing: str | None, name: str, path: str) -> str:
    """The production file's text with strategy ``name`` (file ``path``) set to
    ``stage: shadow``, ``capital_pct: 0``: its entry is replaced if listed, else appended.
    ``existing`` None creates the file. The result is validated like the daemon reads it."""
    from ruamel.yaml.comments import CommentedMap

    return _edit(existing, name, lambda _old: CommentedMap(
        [("name", quoted_as_text(name)), ("path", quoted_as_text(path)), ("stage", "shadow"),
         ("capital_pct", 0)]))


def with_entry_changes(existing: str, name: str, **changes) -> str:
    """The production file's text with keys of strategy ``name``'s entry changed (a value of
    None removes the key); its other keys, comments and order are kept."""

    def change(old):
        if old is None:
            raise InputError(f"{PRODUCTION_FILE}: no strategy named {name!r}")
        for key, value in changes.items():
            if value is None:
                old.pop(key, None)
            else:
                old[key] = quoted_as_text(value)
        return old

    return _edit(existing, name, change)


def _edit(existing: str | None, name: str, make) -> str:
    """Load ``existing`` round-trip, put ``make(old entry or None)`` in place of ``name``'s
    entry (appended when absent), dump, and validate the result."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq
    from ruamel.yaml.util import load_yaml_guess_indent

    label = f"{PRODUCTION_FILE}: "
    if existing is None or not existing.strip():
        existing = _HEADER + "strategies: []\n"
    parse_yaml(existing, PRODUCTION_FILE)  # the bounds (size, depth, aliases) before ruamel
    try:
        _, indent, dash = load_yaml_guess_indent(existing)
        y = YAML()
        y.preserve_quotes = True
        y.width = 4096
        if dash is None:  # no block sequence yet: `  - name: ...`
            indent, dash = 4, 2
        y.indent(mapping=indent or 2, sequence=indent or 2, offset=dash)
        doc = y.load(existing)
    except Exception as exc:  # ruamel's YAMLError subclasses
        raise InputError(f"{label}invalid YAML ({type(exc).__name__}): fix it first") from None
    if not isinstance(doc, CommentedMap):
        raise InputError(f"{label}expected a mapping with `strategies:`")
    entries = doc.get("strategies")
    if entries is None:
        entries = doc["strategies"] = CommentedSeq()
    if not isinstance(entries, list):
        raise InputError(f"{label}`strategies` must be a list")
    if isinstance(entries, CommentedSeq) and entries.fa.flow_style() and not entries:
        entries.fa.set_block_style()
    for i, item in enumerate(entries):
        if isinstance(item, dict) and item.get("name") == name:
            entries[i] = make(item)
            break
    else:
        entries.append(make(None))
    buf = io.StringIO()
    y.dump(doc, buf)
    text = buf.getvalue()
    from otonom_trader.domain.deployment import load_deployment_text

    load_deployment_text(text, label)
    return text
