"""What the Spark tests share: one local SparkSession per test run, and the real logs.

The session is local[2] with 2 shuffle partitions and no UI, created once (getOrCreate keeps
one per process) and stopped when the run ends, so the JVM starts once for every Spark test.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = (ROOT / ".." / "shared" / "data").resolve()
TMALL = SHARED_DATA / "tmall-2014-brand-log" / "t_alibaba_data.csv.gz"
TAOBAO = SHARED_DATA / "taobao-userbehavior-head" / "taobao_userbehavior_head.csv.gz"
MASTER = "local[2]"


def real_log(path: Path) -> Path:
    """The real log at ``path``: a CI run must have it (fails), elsewhere its absence skips."""
    if not path.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{path} is missing: CI needs ../shared/data beside the repository")
        pytest.skip(f"{path} not present")
    return path


def start_spark() -> Any:
    from interest_core.engines.spark_session import SHUFFLE_PARTITIONS_ENV, spark_session

    os.environ.setdefault(SHUFFLE_PARTITIONS_ENV, "2")
    return spark_session(MASTER)
