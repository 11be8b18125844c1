"""Placeholder replaced in the next step."""

from __future__ import annotations

from typing import Any

from interest_core.errors import ModelError


def run_next_interest(*args: Any, **kwargs: Any) -> Any:
    raise ModelError("next_interest is not available yet", "use --target engagement")
