"""The pages open a Spark-built dataset: its events are Parquet behind a DuckDB view, like any other."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interest_core.cli.main import main as cli
from interest_core.store import Store
from tests.apptest import check_drawn, open_page, temp_store
from tests.spark_support import MASTER, TMALL, real_log, start_spark

TIMEOUT = 240
PAGES = ("app_pages/data.py", "app_pages/overview.py", "app_pages/user.py", "app_pages/migration.py",
         "app_pages/demand.py")
pytestmark = pytest.mark.slow  # the pages learn segments and fit baselines on first open


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmall = real_log(TMALL)
    start_spark()
    with temp_store(tmp_path_factory, "spark-pages") as path:
        assert cli(["ingest", str(tmall), "--name", "tm_spark", "--db", str(path), "--engine", "spark",
                    "--spark-master", MASTER]) == 0
        with Store(path, read_only=True) as store:
            kind = store.query("SELECT table_type FROM information_schema.tables WHERE table_name = ?",
                               [store.table("tm_spark").strip('"')])["table_type"].iloc[0]
        assert kind == "VIEW"  # the app reads the Parquet through DuckDB
        yield path


@pytest.mark.parametrize("file", PAGES)
def test_page_opens_on_a_spark_built_dataset(db: Path, file: str) -> None:
    at = open_page(file, TIMEOUT, errors=False, dataset="tm_spark", freq="W")
    assert not at.exception
    check_drawn(at, file)


def test_overview_counts_are_the_source_counts(db: Path) -> None:
    at = open_page("app_pages/overview.py", TIMEOUT, errors=False, dataset="tm_spark", freq="W")
    values = {m.label: m.value for m in at.metric}
    assert values, "the overview shows its KPIs"
    assert any(v.replace(",", "") == "182880" for v in values.values()), values
