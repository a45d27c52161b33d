"""The application layer: `Session(store).at(as_of)` resolves the playbook, zone and moment once, and the win
model is trained once per (data version, playbook, as_of) and reused - from this process, and from the store
by the next process - and retrained when the data changes. On DuckDB and PostgreSQL."""

from __future__ import annotations

from datetime import datetime

import pytest

from dealpulse.app import Session
from dealpulse.app import models
from dealpulse.demo.simulation import simulate
from dealpulse.ingest.write import write_tables
from dealpulse.store import connect


@pytest.fixture(scope="module")
def small_frames():
    return simulate(deals=700, managers=6, months=10, seed=3).frames


def _fill(url, frames):
    s = connect(url)
    write_tables(s, dict(frames), [], source="test", tz="Europe/Moscow")
    return s


def test_session_resolves_moment_zone_playbook_and_reuses_the_model(store_url, small_frames, monkeypatch, tmp_path):
    monkeypatch.setenv("DEALPULSE_CONFIG_DIR", str(tmp_path / "cfg"))
    models.forget_memory()
    store = _fill(store_url, small_frames)
    calls = []
    from dealpulse.risk import train as train_mod
    real = train_mod.train

    def counting(snap, **kw):
        calls.append(snap.as_of)
        return real(snap, **kw)

    monkeypatch.setattr(train_mod, "train", counting)
    try:
        s = Session(store)
        latest = s.resolve(None)
        m = s.at(None)
        assert m.as_of == latest and s.at(None) is m  # the same moment object within a session
        head = m.document_head()
        assert head["zone"] == "Europe/Moscow" and head["as_of"]["tz"] == "Europe/Moscow"
        assert head["as_of"]["utc"].startswith(latest.isoformat(timespec="seconds"))
        tr = m.trained()
        assert len(calls) == 1 and m.trained() is tr
        # another session (another command) in this process: from memory
        assert Session(store).at(None).trained() is tr and len(calls) == 1
        # another process: memory empty, the store has it; same predictions, no training
        models.forget_memory()
        tr2 = Session(store).at(None).trained()
        assert len(calls) == 1 and tr2 is not tr
        x = __import__("dealpulse.risk.score", fromlist=["open_features"]).open_features(tr2)
        assert (tr2.predict(x) == tr.predict(x)).all() and tr2.history is not None
        # an earlier moment is another model
        earlier = Session(store).at(datetime(latest.year, latest.month, 1))
        earlier.trained()
        assert len(calls) == 2
        # new data: another key, trained anew
        models.forget_memory()
        write_tables(store, {"managers": small_frames["managers"].head(1)}, [], source="again", tz="Europe/Moscow")
        Session(store).at(None).trained()
        assert len(calls) == 3
        assert store.query("SELECT count(*) FROM model_cache")[0][0] == 3
    finally:
        store.close()


def test_a_payload_signed_by_another_key_is_not_unpickled(tmp_path, small_frames, monkeypatch):
    monkeypatch.setenv("DEALPULSE_CONFIG_DIR", str(tmp_path / "cfg"))
    models.forget_memory()
    store = _fill(str(tmp_path / "s.duckdb"), small_frames)
    try:
        Session(store).at(None).trained()
        models.forget_memory()
        monkeypatch.setenv("DEALPULSE_SECRET", "another installation")
        calls = []
        from dealpulse.risk import train as train_mod
        real = train_mod.train
        monkeypatch.setattr(train_mod, "train", lambda snap, **kw: calls.append(1) or real(snap, **kw))
        Session(store).at(None).trained()
        assert calls == [1]  # the foreign payload was ignored and the model retrained
    finally:
        store.close()
