"""One SparkSession per process and master URL, configured for the rules (UTC, no UI, Arrow on).

pyspark and Java are needed only here: importing the rest of the library never starts a JVM.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interest_core.engines import DEFAULT_SPARK_MASTER
from interest_core.errors import EngineError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SHUFFLE_PARTITIONS_ENV = "INTEREST_SPARK_SHUFFLE_PARTITIONS"  # tests keep it small


def spark_session(master: str | None = None, *, conf: dict[str, str] | None = None) -> SparkSession:
    """The active session, or a new one on ``master`` (``local[*]``, ``spark://host:7077``, ``yarn``...).

    Settings that the rules rely on are fixed here: UTC session time (``ts`` is a UTC wall clock),
    ANSI SQL, and Parquet timestamps written as microseconds without a zone, which DuckDB reads as
    the same TIMESTAMP the embedded store holds.
    """
    # pyspark 4.3 warns on pandas 3 at each pandas hand-over; frames cross as Arrow, and the few
    # small pandas frames (category maps, a model's groups) are plain columns it handles.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas", category=FutureWarning)
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise EngineError("pyspark is not installed", "pip install -r requirements.txt (it pins pyspark)") from None
    if not os.environ.get("JAVA_HOME") and shutil.which("java") is None:
        raise EngineError("Spark needs a Java runtime and none was found",
                          "install Java 17 (apt-get install openjdk-17-jre-headless) or set JAVA_HOME")
    active = SparkSession.getActiveSession()
    wanted = master or DEFAULT_SPARK_MASTER
    if active is not None:
        if active.sparkContext.master != wanted and master is not None:
            raise EngineError(f"a Spark session on {active.sparkContext.master!r} is already running here",
                              f"use that master, or run the command in a new process for {wanted!r}")
        return active
    _python_workers_like_the_driver()
    builder: Any = SparkSession.builder.master(wanted).appName("interest_core")
    settings = {
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.ansi.enabled": "true",
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
        "spark.sql.shuffle.partitions": os.environ.get(SHUFFLE_PARTITIONS_ENV, "8"),
        "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
        **(conf or {}),
    }
    for key, value in settings.items():
        builder = builder.config(key, value)
    try:
        session: SparkSession = builder.getOrCreate()
    except Exception as exc:  # the JVM failed to start: Java missing or too old, or a bad master URL
        raise EngineError(f"Spark could not start on {wanted!r} ({str(exc).splitlines()[0][:200]})",
                          "check Java 17+ (java -version) and the --spark-master URL") from None
    session.sparkContext.setLogLevel("ERROR")
    return session


def _python_workers_like_the_driver() -> None:
    """Python workers run this interpreter and import this interest_core (scoring UDFs need both).

    Local workers inherit the environment; on a cluster, install the same requirements and the
    package on the executors (or pass a zip of it with spark-submit --py-files).
    """
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    package_root = str(Path(__file__).resolve().parents[2])
    paths = os.environ.get("PYTHONPATH", "").split(os.pathsep)
    if package_root not in paths:
        os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, *paths) if p)
