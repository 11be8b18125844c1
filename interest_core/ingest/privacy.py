"""Privacy: keyed pseudonyms for user ids, small-group suppression, Laplace noise for exports."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from interest_core.errors import IngestError

DEFAULT_KEY_ENV = "INTEREST_PSEUDONYM_KEY"
DEFAULT_MIN_GROUP = 5


def pseudonymizer_key(env_var: str) -> bytes:
    key = os.environ.get(env_var, "")
    if len(key) < 16:
        raise IngestError(
            f"pseudonymisation asked for, but environment variable {env_var} is unset or shorter than 16 characters",
            f"set {env_var} to a long secret (e.g. `export {env_var}=$(openssl rand -hex 32)`) and keep it safe",
        )
    return key.encode()


def pseudonymize(ids: Iterable[str], key: bytes) -> list[str]:
    """HMAC-SHA256 of each id under the key: stable, not reversible without the key."""
    return ["u_" + hmac.new(key, str(i).encode(), hashlib.sha256).hexdigest()[:32] for i in ids]


def pseudonym_sql(column: str) -> str:
    """``pseudonymize`` as a DuckDB expression over ``column``, with ``pseudonym_params`` bound as $1, $2.

    HMAC written out (RFC 2104: H(K^opad || H(K^ipad || m))), so ingest hashes ids inside the
    staging query: the raw ids are never written to the database file, and no list of users is
    built in Python.
    """
    inner = f"unhex(sha256($1 || encode({column})))"
    return f"CASE WHEN {column} IS NULL THEN NULL ELSE 'u_' || left(sha256($2 || {inner}), 32) END"


def pseudonym_params(key: bytes) -> list[object]:
    """The inner and outer padded keys of HMAC-SHA256 (block size 64 bytes)."""
    block = (hashlib.sha256(key).digest() if len(key) > 64 else key).ljust(64, b"\0")
    return [bytes(b ^ 0x36 for b in block), bytes(b ^ 0x5C for b in block)]


def suppress_small_groups(
    frame: pd.DataFrame, count_col: str, min_group: int = DEFAULT_MIN_GROUP
) -> tuple[pd.DataFrame, int]:
    """Drop rows whose group has fewer than ``min_group`` users; return the frame and how many were hidden."""
    if min_group <= 1 or frame.empty:
        return frame, 0
    keep = frame[count_col] >= min_group
    return frame.loc[keep].reset_index(drop=True), int((~keep).sum())


def laplace_noise(
    frame: pd.DataFrame, columns: list[str], epsilon: float, sensitivity: float = 1.0, seed: int | None = None
) -> pd.DataFrame:
    """Add Laplace(sensitivity/epsilon) noise to count columns (differential privacy for exported counts).

    Counts stay non-negative and are rounded, as a published count would be.
    """
    if epsilon <= 0:
        raise ValueError("epsilon must be > 0 (smaller means more noise, more privacy)")
    rng = np.random.default_rng(seed)
    out = frame.copy()
    for col in columns:
        noisy = out[col].to_numpy(dtype=float) + rng.laplace(0.0, sensitivity / epsilon, len(out))
        out[col] = np.clip(np.round(noisy), 0, None)
    return out
