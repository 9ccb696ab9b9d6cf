"""The journal of a promotion in progress: ``.otonom/promote/<name>.json``.

Written before the first change to the repository and removed once the pull request is
opened (or its body saved for opening by hand), it says what an interrupted promotion had
started: its branch, the branch and commit it started from, the files it writes, how to
publish it and what the console shows. ``otonom promote`` reads it to finish or roll back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from otonom_trader.adapters.atomic import write_atomic
from otonom_trader.adapters.forge import api_root
from otonom_trader.domain.errors import InputError
from otonom_trader.domain.redact import redact

__all__ = ["JOURNAL_DIR", "Journal", "request_fingerprint"]

JOURNAL_DIR = ".otonom/promote"


def request_fingerprint(fields: dict[str, Any]) -> str:
    """A short hash of the request options that decide what is promoted."""
    text = json.dumps(fields, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Journal:
    name: str
    branch: str
    base_branch: str
    base_sha: str
    files: list[str]  # repository-relative paths the promotion writes
    fingerprint: str  # request_fingerprint of the options
    remote: str
    forge_url: str | None
    repo: str | None
    title: str  # of the pull request
    body_path: str
    summary: dict[str, Any] = field(default_factory=dict)  # PromotionSummary.as_dict()

    @staticmethod
    def path(root: Path, name: str) -> Path:
        return root / JOURNAL_DIR / f"{name}.json"

    def save(self, root: Path) -> None:
        target = self.path(root, self.name)
        target.parent.mkdir(parents=True, exist_ok=True)
        ignore = root / ".otonom" / ".gitignore"
        if not ignore.exists():  # local state, never committed
            ignore.write_text("*\n", encoding="utf-8")
        # No secret is kept: the forge URL without user-info (the token comes from
        # GITHUB_TOKEN on resume), the rest through the one redaction step.
        fields = asdict(self)
        if fields.get("forge_url"):
            fields["forge_url"] = api_root(fields["forge_url"])
        write_atomic(target, redact(json.dumps(fields, indent=2) + "\n").encode())

    @classmethod
    def load(cls, root: Path, name: str) -> Journal | None:
        target = cls.path(root, name)
        if not target.is_file():
            return None
        try:
            return cls(**json.loads(target.read_text(encoding="utf-8")))
        except (ValueError, TypeError):
            raise InputError(f"{target.relative_to(root)} is not a promotion journal: remove "
                             "it, and the branch promote/" + name + " if it exists") from None

    def remove(self, root: Path) -> None:
        self.path(root, self.name).unlink(missing_ok=True)
