"""Shared fixtures: the accuracy record, the real-data folder and one ingested Tmall store per session.

``accuracy``: every accuracy figure a test measures goes to test-artifacts/accuracy.json; entries this
run did not record are marked stale (tests/accuracy_log.py says how, and prints the fresh ones).

Real data: ``real_data`` is the folder of real logs, ``../shared/data`` beside the repository root or
``$INTEREST_DATA_DIR``. A test that needs a file of it skips with the reason when the file is missing,
and fails instead when ``CI`` is set, so a CI machine without the data cannot pass silently.
``tmall_store`` ingests the Tmall log once per session into a temp store that every test shares
read-only (``open()``); a test that writes takes a copy (``copy_to``). ``tmall_weekly`` gives each
test its own copy of the weekly panel and the log's last event time.

``shared_fits``: during the test that takes it, an LSTM fitted on the same data with the same parameters as an
earlier one in the session gets that fit's learned state instead of training again (tests/shared_fits.py).

``prepared_demo``: the demo ingested and prepared once per session (derived tables and page models of the
period the app opens it with); a module copies it (``copy_prepared_demo``) where its subject is the pages
with their models fitted, not the first fits (tests/test_page_models.py and the browser walk cover those).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from interest_core.config import PanelSpec
from interest_core.ingest import pipeline
from interest_core.panel import build_panel, events_source
from interest_core.store import IngestResult, Store
from tests.accuracy_log import ACCURACY_JSON, AccuracyRecorder
from tests.shared_fits import SharedFits, sharing

__all__ = ["AccuracyRecorder", "IngestedStore", "RealData"]

ROOT = Path(__file__).resolve().parent.parent
DATA_ENV = "INTEREST_DATA_DIR"  # overrides ../shared/data
TMALL_LOG = "tmall-2014-brand-log/t_alibaba_data.csv.gz"
TAOBAO_LOG = "taobao-userbehavior-head/taobao_userbehavior_head.csv.gz"

_outcomes: dict[str, str] = {}  # node id -> passed / failed / skipped / xfailed / error
_recorder = AccuracyRecorder()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                               call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        # An expected failure is reported as skipped, with the reason in ``wasxfail``.
        _outcomes[item.nodeid] = "xfailed" if report.skipped and hasattr(report, "wasxfail") else report.outcome
    elif report.failed:
        _outcomes[item.nodeid] = "error"
    elif report.skipped and report.when == "setup":
        _outcomes[item.nodeid] = "skipped"
    return report


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Write the accuracy record after every session that ran a test, even one that recorded nothing."""
    if _outcomes:
        _recorder.write(ACCURACY_JSON, _outcomes)


@pytest.fixture(scope="session")
def accuracy() -> AccuracyRecorder:
    """The session's recorder; written to test-artifacts/accuracy.json when the session ends."""
    return _recorder


# -- real data ---------------------------------------------------------------------------------------

def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class RealData:
    """The folder of real logs; ``file`` skips (or, under CI, fails) the test when one is missing."""

    root: Path

    @classmethod
    def located(cls) -> RealData:
        configured = os.environ.get(DATA_ENV)
        return cls(Path(configured).expanduser().resolve() if configured else (ROOT.parent / "shared" / "data"))

    def file(self, relative: str) -> Path:
        path = self.root / relative
        if not path.is_file():
            reason = (f"real data file {path} not found: put the shared data at ../shared/data beside the "
                      f"repository or set {DATA_ENV}")
            if in_ci():
                pytest.fail(f"{reason} (CI is set: a test that needs real data fails instead of skipping)",
                            pytrace=False)
            pytest.skip(reason)
        return path


@pytest.fixture(scope="session")
def real_data() -> RealData:
    return RealData.located()


@pytest.fixture(scope="session")
def tmall_log(real_data: RealData) -> Path:
    """The Tmall 2014 brand log (182,880 events, weekly series over 4 months)."""
    return real_data.file(TMALL_LOG)


@pytest.fixture(scope="session")
def taobao_log(real_data: RealData) -> Path:
    """The head of Taobao UserBehavior (84,287 events over 9 days)."""
    return real_data.file(TAOBAO_LOG)


@dataclass(frozen=True)
class IngestedStore:
    """A store file holding one ingested dataset, shared by the session: open it read-only or copy it."""

    db: Path
    name: str
    result: IngestResult
    end: pd.Timestamp  # the last event's timestamp

    def open(self) -> Store:
        return Store(self.db, read_only=True)

    def copy_to(self, folder: Path) -> Path:
        """A private copy of the store file, for a test that writes (derived tables, a CLI run)."""
        target = folder / self.db.name
        shutil.copyfile(self.db, target)
        return target


@pytest.fixture(scope="session")
def tmall_store(tmall_log: Path, tmp_path_factory: pytest.TempPathFactory) -> IngestedStore:
    """The Tmall log ingested once for the whole session (with the default options)."""
    db = tmp_path_factory.mktemp("tmall_shared") / "tmall.duckdb"
    with Store(db) as store:
        result = pipeline.ingest(store, tmall_log, name="tmall")
        end = pd.Timestamp(store.describe("tmall").end)
    return IngestedStore(db=db, name="tmall", result=result, end=end)


@pytest.fixture(scope="session")
def _tmall_weekly_panel(tmall_store: IngestedStore) -> pd.DataFrame:
    with tmall_store.open() as store:
        return build_panel(events_source(store, tmall_store.name), PanelSpec(freq="W"))


@pytest.fixture
def tmall_weekly(_tmall_weekly_panel: pd.DataFrame, tmall_store: IngestedStore) -> tuple[pd.DataFrame, pd.Timestamp]:
    """The weekly Tmall panel (the test's own copy) and the last event's timestamp."""
    return _tmall_weekly_panel.copy(), tmall_store.end


@pytest.fixture
def shared_fits(monkeypatch: pytest.MonkeyPatch) -> SharedFits:
    """Equal LSTM fits trained once per session, for this test only (tests/shared_fits.py)."""
    return sharing(monkeypatch)


# -- the demo, prepared ------------------------------------------------------------------------------

@pytest.fixture(scope="session")
def prepared_demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store holding the demo with the derived tables and the page models of the period the app opens it with
    (``prepare --freq`` of that period), built once per session; ``copy_prepared_demo`` copies it."""
    from interest_core import derived
    from interest_core.forecasting.page_defaults import suggested_freq  # registers the page-model step too
    from interest_core.ingest.uploads import ensure_demo

    db = tmp_path_factory.mktemp("prepared_demo") / "interest.duckdb"
    with Store(db) as store:  # closed before anything opens a copy
        assert ensure_demo(store) is not None, "the demo file is missing (data/demo/events.parquet)"
        # Only the period the pages open with (prepare's default also builds the tables of the other two).
        derived.prepare(store, "demo", freqs=[suggested_freq(events_source(store, "demo"))])
    assert not db.with_name(db.name + ".wal").exists()  # all in the file that is copied
    return db


def copy_prepared_demo(prepared: Path, target: Path) -> Path:
    """``prepared`` (the store file and its page models beside it) copied to the store path ``target``."""
    from interest_core.forecasting.page_models import page_models_root

    shutil.copyfile(prepared, target)
    shutil.copytree(page_models_root(prepared), page_models_root(target))
    return target
