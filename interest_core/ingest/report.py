"""The ingest report: every dropped or repaired row counted by reason, with examples."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from interest_core.ingest.formats import REJECT_REASONS, REPAIR_REASONS


@dataclass(frozen=True)
class RejectReport:
    rows_read: int
    rows_kept: int
    rejected: dict[str, int]
    repaired: dict[str, int]
    duplicates_policy: str
    format: str
    examples: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RejectReport:
        return cls(**data)

    def to_frame(self) -> pd.DataFrame:
        """One row per reason: kind, reason, rows, meaning (for display and CSV download)."""
        rows = [
            {"kind": "rejected", "reason": r, "rows": n, "meaning": REJECT_REASONS.get(r, r)}
            for r, n in self.rejected.items()
        ] + [
            {"kind": "repaired", "reason": r, "rows": n, "meaning": REPAIR_REASONS.get(r, r)}
            for r, n in self.repaired.items()
        ]
        return pd.DataFrame(rows, columns=["kind", "reason", "rows", "meaning"])

    def summary_line(self) -> str:
        parts = [f"{self.rows_kept:,} of {self.rows_read:,} rows kept"]
        if self.rejected:
            parts.append("rejected: " + ", ".join(f"{r} {n:,}" for r, n in self.rejected.items()))
        if self.repaired:
            parts.append("repaired: " + ", ".join(f"{r} {n:,}" for r, n in self.repaired.items()))
        return "; ".join(parts)
