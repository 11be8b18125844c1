"""Model saves that roll forward: a link switched atomically, a lock per folder, HMAC-signed manifests.

The kill test runs a saver in a subprocess and SIGKILLs it at random moments; after each kill
the folder must load (hashes checked) and forecast exactly as the old or the new model does.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

from interest_core.errors import ArtifactError, SignatureError
from interest_core.forecasting import persist
from interest_core.forecasting.forecasters import available, make_forecaster, registry
from interest_core.forecasting.forecasters.base import Forecaster
from interest_core.forecasting.manifest import KEY_ENV
from tests.forecast_data import engagement_frame

ROOT = Path(__file__).resolve().parents[1]
SHA = "0" * 64


def _frame() -> pd.DataFrame:
    return engagement_frame(n_users=4, n_categories=3, n_periods=12, seed=5)


def _models() -> tuple[Forecaster, Forecaster]:
    frame = _frame()
    return make_forecaster("window_mean").fit(frame, "W"), make_forecaster("recency_decay").fit(frame, "W")


def _save(model: Forecaster, folder: Path, **kw: object) -> Path:
    return persist.save_model(model, folder, dataset_sha256=SHA, panel_spec={"freq": "W"}, **kw)  # type: ignore[arg-type]


def test_a_save_switches_a_link_and_keeps_one_previous_version(tmp_path: Path) -> None:
    old, new = _models()
    link = _save(old, tmp_path / "m")
    first = os.readlink(link)
    _save(new, link)
    assert link.is_symlink() and os.readlink(link) != first
    versions = sorted(p.name for p in tmp_path.glob(".m.v-*"))
    assert len(versions) == 2 and first in versions  # the previous one stays for a reader still on it
    _save(old, link)
    assert len(list(tmp_path.glob(".m.v-*"))) == 2 and first not in {p.name for p in tmp_path.glob(".m.v-*")}
    assert persist.load_model(link).model.name == "window_mean"


def test_stale_temp_folders_are_cleaned_by_the_next_save(tmp_path: Path) -> None:
    old, new = _models()
    link = _save(old, tmp_path / "m")
    for stale in (".m.tmp-abc123", ".m.tmp-link-deadbeef"):
        (tmp_path / stale).mkdir()
        (tmp_path / stale / "state.json").write_text("{half")
    _save(new, link)
    assert not list(tmp_path.glob(".m.tmp-*"))
    assert persist.load_model(link).model.name == "recency_decay"


def test_a_folder_of_the_old_layout_is_converted(tmp_path: Path) -> None:
    old, new = _models()
    legacy = tmp_path / "m"
    _save(old, legacy)
    real = persist.model_dir(legacy)
    legacy.unlink()
    real.rename(legacy)  # a real folder, as earlier versions wrote
    assert persist.load_model(legacy).model.name == "window_mean"
    _save(new, legacy)
    assert legacy.is_symlink() and persist.load_model(legacy).model.name == "recency_decay"


def test_a_link_that_points_elsewhere_is_refused(tmp_path: Path) -> None:
    old, _ = _models()
    elsewhere = _save(old, tmp_path / "other")
    (tmp_path / "m").symlink_to(persist.model_dir(elsewhere))
    with pytest.raises(ArtifactError, match="not to one of its own versions"):
        persist.load_model(tmp_path / "m")
    with pytest.raises(ArtifactError, match="not to one of its own versions"):
        _save(old, tmp_path / "m")


def test_a_dangling_link_is_no_model_and_the_next_save_repairs_it(tmp_path: Path) -> None:
    import shutil

    old, new = _models()
    link = _save(old, tmp_path / "m")
    for version in tmp_path.glob(".m.v-*"):
        shutil.rmtree(version)
    with pytest.raises(ArtifactError, match="no saved model"):
        persist.load_model(link)
    _save(new, link)
    assert persist.load_model(link).model.name == "recency_decay"


def test_two_saves_into_one_folder_do_not_race(tmp_path: Path) -> None:
    old, new = _models()
    link = tmp_path / "m"
    errors: list[BaseException] = []

    def save(model: Forecaster) -> None:
        try:
            for _ in range(8):
                _save(model, link)
        except BaseException as exc:  # collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=save, args=(m,)) for m in (old, new)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert persist.load_model(link).model.name in ("window_mean", "recency_decay")
    assert not list(tmp_path.glob(".m.tmp-*")) and len(list(tmp_path.glob(".m.v-*"))) <= 2


def test_signed_manifests_refuse_forgery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old, _ = _models()
    unsigned = _save(old, tmp_path / "unsigned")
    monkeypatch.setenv(KEY_ENV, "s3cret")
    folder = _save(old, tmp_path / "m")
    assert json.loads((folder / "manifest.json").read_text())["signature"]["alg"] == "hmac-sha256"
    assert persist.load_model(folder).model.name == "window_mean"
    with pytest.raises(SignatureError, match="is not signed"):
        persist.load_model(unsigned)
    # Forge the state and recompute its hash in the manifest: hashes agree, the signature does not.
    state_path = folder / "state.json"
    state = json.loads(state_path.read_text())
    state["state"]["basis_"]["__ndarray__"] = [99.0] * len(state["state"]["basis_"]["__ndarray__"])
    state_path.write_text(json.dumps(state))
    manifest = json.loads((folder / "manifest.json").read_text())
    data = state_path.read_bytes()
    manifest["files"]["state.json"] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SignatureError, match="signature does not verify"):
        persist.load_model(folder)
    monkeypatch.setenv(KEY_ENV, "another key")
    monkeypatch.delenv(KEY_ENV)
    assert persist.load_model(folder).model.predict(1)["yhat"].max() == 99.0  # without a key: hashes only


def test_available_checks_tensorflow_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else real(name, *a))
    assert "lstm" not in available() and "lstm" not in registry.offered_models()
    assert registry.offered_models("engagement") == list(registry.BASELINE_NAMES)
    with pytest.raises(Exception, match="needs TensorFlow"):
        make_forecaster("lstm")


# Imports once, then forks one saver per round (the test SIGKILLs it mid-save): fast enough for 20 rounds.
SAVER = """
import os, sys, pathlib
from interest_core.forecasting import persist
from interest_core.forecasting.forecasters import make_forecaster
from tests.forecast_data import engagement_frame
frame = engagement_frame(n_users=4, n_categories=3, n_periods=12, seed=5)
models = [make_forecaster("window_mean").fit(frame, "W"), make_forecaster("recency_decay").fit(frame, "W")]
folder = pathlib.Path(sys.argv[1])
for line in sys.stdin:
    pid = os.fork()
    if pid == 0:
        i = int(line)  # the round: odd rounds start with the other model
        while True:
            persist.save_model(models[i % 2], folder, dataset_sha256="0" * 64, panel_spec={"freq": "W"})
            i += 1
    print(pid, flush=True)
    os.waitpid(pid, 0)
    print("reaped", flush=True)
"""


@pytest.mark.slow
def test_sigkill_during_saves_always_leaves_a_loadable_model(tmp_path: Path) -> None:
    old, new = _models()
    expected = {m.name: m.predict(2, level=[80]) for m in (old, new)}
    folder = tmp_path / "m"
    _save(old, folder)
    rng = random.Random(13)
    zygote = subprocess.Popen([sys.executable, "-c", SAVER, str(folder)], cwd=ROOT, text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert zygote.stdin is not None and zygote.stdout is not None
    seen = set()
    try:
        for attempt in range(20):
            zygote.stdin.write(f"{attempt}\n")
            zygote.stdin.flush()
            pid = int(zygote.stdout.readline())
            time.sleep(rng.uniform(0.01, 0.6))
            os.kill(pid, signal.SIGKILL)
            assert zygote.stdout.readline().strip() == "reaped"
            loaded = persist.load_model(folder)  # hashes checked
            pd.testing.assert_frame_equal(loaded.model.predict(2, level=[80]), expected[loaded.model.name])
            seen.add(loaded.model.name)
    finally:
        zygote.kill()
        zygote.wait()
    assert seen == {"window_mean", "recency_decay"}  # the kills landed at different points of the loop
