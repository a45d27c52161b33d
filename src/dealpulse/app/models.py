"""The win model, trained once per (data, playbook, as_of) and reused by every command, page and digest.

Training is the slowest step of most analyses (tens of seconds on a large store); the CLI, the report, the
web app and the digests all ask `trained_model(...)` instead of training themselves. The model is kept

- in this process (a small LRU: the web app asks for the same moment again and again), and
- in the store's `model_cache` table, so that the next command — or the next worker of the web app —
  reuses it. The key is the data version (what was imported, see `data_version`), the playbook's text,
  the as_of moment and the versions of the code and libraries that built it: new data, another playbook
  or an upgrade means another key, and the model is trained anew.

What is stored is the fitted model without its history (the history is read from the store again, a few
seconds, instead of tens of megabytes in the table), compressed, base64 text (portable between DuckDB and
PostgreSQL) and signed with HMAC-SHA256: a payload is unpickled only when its signature matches the key of
this installation (`DEALPULSE_SECRET`, else a random key kept in `~/.config/dealpulse/secret.key`), so
nobody who can write to a shared database can make a reader run code. A payload that fails the check is
ignored and the model retrained.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import pickle
import secrets
import threading
import zlib
from collections import OrderedDict
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from dealpulse.metrics.asof import Snapshot

log = logging.getLogger(__name__)

MODEL_FORMAT = 1  # bump when Trained changes shape
KEEP_PER_STORE = 12  # rows kept in model_cache (the most recent)
MEMORY_SLOTS = 4
_memory: "OrderedDict[str, Any]" = OrderedDict()
_lock = threading.Lock()


def data_version(store: Any) -> str:
    """Changes whenever the data changes: every import (file, preset, sync, demo) adds a row to `imports`."""
    rows = store.query("SELECT count(*), max(started_at) FROM imports")
    n, last = rows[0] if rows else (0, None)
    return f"{n}:{last.isoformat() if last is not None else '-'}"


def _libraries() -> str:
    import sklearn

    try:
        import lightgbm
        lgb = lightgbm.__version__
    except ImportError:  # pragma: no cover - lightgbm is a dependency
        lgb = "-"
    import dealpulse

    return f"{dealpulse.__version__}/{sklearn.__version__}/{lgb}/{MODEL_FORMAT}"


def cache_key(store: Any, playbook_text: str, as_of: datetime) -> tuple[str, str]:
    """(key, data version) of the model as of `as_of` for this store's data and this playbook."""
    version = data_version(store)
    raw = "\x1f".join([version, hashlib.sha256(playbook_text.encode("utf-8")).hexdigest(), as_of.isoformat(), _libraries()])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest(), version


def _secret() -> bytes:
    env = os.environ.get("DEALPULSE_SECRET")
    if env:
        return env.encode("utf-8")
    path = Path(os.environ.get("DEALPULSE_CONFIG_DIR") or Path.home() / ".config" / "dealpulse") / "secret.key"
    try:
        return path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(key)
        return key
    except FileExistsError:  # pragma: no cover - another process made it between the two calls
        return path.read_bytes()


def _pack(trained: Any) -> str:
    blob = zlib.compress(pickle.dumps(replace(trained, history=None), protocol=pickle.HIGHEST_PROTOCOL), 1)
    sig = hmac.new(_secret(), blob, hashlib.sha256).hexdigest()
    return sig + ":" + base64.b64encode(blob).decode("ascii")


def _unpack(payload: str) -> Any | None:
    sig, _, body = payload.partition(":")
    try:
        blob = base64.b64decode(body.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        return None
    if not hmac.compare_digest(sig, hmac.new(_secret(), blob, hashlib.sha256).hexdigest()):
        log.info("model_cache: a payload signed by another key was ignored")
        return None
    try:
        return pickle.loads(zlib.decompress(blob))  # noqa: S301 - signed by this installation's key above
    except Exception:  # noqa: BLE001 - an unreadable cache entry is retrained, never fatal
        return None


def _remember(key: str, trained: Any) -> None:
    with _lock:
        _memory[key] = trained
        _memory.move_to_end(key)
        while len(_memory) > MEMORY_SLOTS:
            _memory.popitem(last=False)


def _load(store: Any, key: str) -> Any | None:
    try:
        rows = store.query("SELECT payload FROM model_cache WHERE cache_key = ?", [key])
    except Exception:  # noqa: BLE001 - a store opened without migrations (read-only): no cache
        return None
    return _unpack(rows[0][0]) if rows else None


def _save(store: Any, key: str, version: str, as_of: datetime, trained: Any) -> None:
    payload = _pack(trained)
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    try:
        with store.transaction():
            store.execute("DELETE FROM model_cache WHERE cache_key = ?", [key])
            store.execute("INSERT INTO model_cache (cache_key, as_of, data_version, created_at, payload) VALUES (?, ?, ?, ?, ?)",
                          [key, as_of, version, now, payload])
            old = store.query("SELECT cache_key FROM model_cache ORDER BY created_at DESC")[KEEP_PER_STORE:]
            for (k,) in old:
                store.execute("DELETE FROM model_cache WHERE cache_key = ?", [k])
    except Exception as exc:  # noqa: BLE001 - a read-only store still answers, it just does not remember
        log.info("model_cache: not saved (%s)", exc)


def cached_model(snap: Snapshot, playbook_text: str) -> Any | None:
    """The win model as of `snap.as_of` if this process or the store has it, else None (nothing trained)."""
    from dealpulse.risk.history import load_history

    key, _ = cache_key(snap.store, playbook_text, snap.as_of)
    with _lock:
        hit = _memory.get(key)
    if hit is not None:
        return hit
    cached = _load(snap.store, key)
    if cached is None:
        return None
    trained = replace(cached, history=load_history(snap))
    _remember(key, trained)
    return trained


def keep_model(snap: Snapshot, playbook_text: str, trained: Any) -> None:
    """Keep a model trained elsewhere (the report fits it in a worker thread) as `trained_model` would: in
    this process and in the store (call it in the thread that owns the store's connection)."""
    key, version = cache_key(snap.store, playbook_text, snap.as_of)
    _save(snap.store, key, version, snap.as_of, trained)
    _remember(key, trained)


def trained_model(snap: Snapshot, playbook_text: str, *, train: Callable[[Snapshot], Any] | None = None) -> Any:
    """The win model as of `snap.as_of`: from this process, else from the store, else trained now (and kept)."""
    from dealpulse.risk.history import load_history
    from dealpulse.risk.train import train as default_train

    store = snap.store
    key, version = cache_key(store, playbook_text, snap.as_of)
    with _lock:
        hit = _memory.get(key)
    if hit is not None:
        return hit
    cached = _load(store, key)
    if cached is not None:
        trained = replace(cached, history=load_history(snap))
    else:
        trained = (train or default_train)(snap)
        _save(store, key, version, snap.as_of, trained)
    _remember(key, trained)
    return trained


def forget_memory() -> None:
    """Drop the models kept in this process (tests; a server after an import)."""
    with _lock:
        _memory.clear()


__all__ = ["trained_model", "cached_model", "keep_model", "cache_key", "data_version", "forget_memory", "MODEL_FORMAT"]
