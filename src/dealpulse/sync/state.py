"""What a sync remembers: the cursor in the store, the pages of an unfinished run on disk.

- The cursor (per CRM account: for each entity, where the next incremental pull starts) lives in
  the store's `meta` table under `sync:<source>:<account>`. It advances only after the pulled pages
  were imported, in the same run; a run that fails leaves it where it was.
- The pages of the current run are written to a staging folder next to the store
  (`<store>.sync/<source>-<account>/`; for a PostgreSQL store under the user's cache folder, or
  `DEALPULSE_SYNC_DIR`). Pages go to its `pages/` subfolder, which is what the preset reads;
  `manifest.json` records the cursor the run started from and, per entity, the pages already
  fetched. A re-run that finds a manifest for the same cursor fetches only what is missing; one
  for another cursor is stale and is cleared.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"


def cursor_key(source: str, account: str) -> str:
    return f"sync:{source}:{account}"


def load_cursor(store: Any, source: str, account: str) -> dict[str, Any]:
    raw = store.get_meta(cursor_key(source, account))
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def save_cursor(store: Any, source: str, account: str, cursor: dict[str, Any]) -> None:
    payload = dict(cursor)
    payload["synced_at"] = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    with store.transaction():
        store.set_meta(cursor_key(source, account), json.dumps(payload, sort_keys=True))


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "account"


def staging_root(store_url: str) -> Path:
    override = os.environ.get("DEALPULSE_SYNC_DIR")
    if override:
        return Path(override).expanduser()
    if "://" in store_url and not store_url.startswith("duckdb://"):
        from dealpulse.store.connect import _redact

        digest = hashlib.sha256(_redact(store_url).encode()).hexdigest()[:12]
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        return base / "dealpulse" / "sync" / digest
    path = store_url[len("duckdb://"):] if store_url.startswith("duckdb://") else store_url
    if path.startswith("//"):
        path = path[1:]
    if path == ":memory:":
        return Path.cwd() / ".dealpulse-sync"
    p = Path(path).expanduser()
    return p.parent / f"{p.name}.sync"


class Staging:
    """The folder of one account's unfinished run: page files plus `manifest.json`."""

    def __init__(self, folder: Path, since: dict[str, Any]):
        self.folder = folder
        self.pages = folder / "pages"  # what the preset reads: nothing but page files
        self.since = since
        self.resumed = False
        self.manifest: dict[str, Any] = {"since": since, "entities": {}, "started_at": None}

    @classmethod
    def open(cls, root: Path, source: str, account: str, since: dict[str, Any], lang: str = "en") -> "Staging":
        folder = root / f"{source}-{_safe(account)}"
        st = cls(folder, since)
        st._lock(lang)
        found = st._read_manifest()
        if found is not None and found.get("since") == since:
            st.manifest = found
            st.resumed = bool(found.get("entities"))
        else:
            if folder.exists():
                shutil.rmtree(folder)
            st.manifest["started_at"] = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
        st.pages.mkdir(parents=True, exist_ok=True)
        st._write_manifest()
        return st

    def _lock(self, lang: str) -> None:
        """One run per account at a time: an exclusive lock on `<folder>.lock` (released by the OS
        when the process ends, however it ends)."""
        self.folder.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = open(self.folder.parent / f"{self.folder.name}.lock", "a+")
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            return
        try:
            fcntl.flock(self._lock_file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.close()
            from dealpulse.errors import InputError
            from dealpulse.i18n import t

            raise InputError(t("sync.err.busy", lang, path=str(self.folder)),
                             suggestion=t("sync.err.busy.suggestion", lang)) from None

    def release(self) -> None:
        f = getattr(self, "_lock_file", None)
        if f is not None and not f.closed:
            f.close()  # closing drops the lock

    def _read_manifest(self) -> dict[str, Any] | None:
        try:
            data = json.loads((self.folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        return data if isinstance(data, dict) else None

    def _write_manifest(self) -> None:
        _atomic_write(self.folder / MANIFEST, json.dumps(self.manifest, ensure_ascii=False, indent=1, sort_keys=True))

    # -- per entity ------------------------------------------------------------------------
    def entity(self, name: str) -> dict[str, Any]:
        return self.manifest["entities"].setdefault(name, {"done": False, "pages": [], "state": {}})

    def has_page(self, entity: str, page_id: str) -> bool:
        name = self.entity(entity).get("files", {}).get(page_id, self.page_file(entity, page_id))
        return page_id in self.entity(entity)["pages"] and (self.pages / name).exists()

    @staticmethod
    def page_file(entity: str, page_id: str) -> str:
        return f"{entity}_{page_id}.json"

    def save_page(self, entity: str, page_id: str, body: Any, *, state: dict[str, Any] | None = None,
                  file_prefix: str | None = None) -> None:
        """Write one page as the API returned it, then record it (and the entity's paging state)."""
        name = self.page_file(file_prefix or entity, page_id)
        _atomic_write(self.pages / name, json.dumps(body, ensure_ascii=False), tmp_dir=self.folder)
        ent = self.entity(entity)
        if page_id not in ent["pages"]:
            ent["pages"].append(page_id)
        ent.setdefault("files", {})[page_id] = name
        if state:
            ent["state"].update(state)
        self._write_manifest()

    def load_page(self, entity: str, page_id: str) -> Any:
        name = self.entity(entity).get("files", {}).get(page_id, self.page_file(entity, page_id))
        return json.loads((self.pages / name).read_text(encoding="utf-8"))

    def finish(self, entity: str, **state: Any) -> None:
        ent = self.entity(entity)
        ent["done"] = True
        ent["state"].update(state)
        self._write_manifest()

    def is_done(self, entity: str) -> bool:
        return bool(self.manifest["entities"].get(entity, {}).get("done"))

    def state(self, entity: str) -> dict[str, Any]:
        return self.entity(entity)["state"]

    def set_extra(self, key: str, value: Any) -> None:
        self.manifest[key] = value
        self._write_manifest()

    def extra(self, key: str, default: Any = None) -> Any:
        return self.manifest.get(key, default)

    def page_count(self) -> int:
        return sum(len(e["pages"]) for e in self.manifest["entities"].values())

    def clear(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
        lock = self.folder.parent / f"{self.folder.name}.lock"
        self.release()
        lock.unlink(missing_ok=True)
        try:
            self.folder.parent.rmdir()  # the <store>.sync folder, if nothing else is in it
        except OSError:
            pass


def _atomic_write(path: Path, text: str, tmp_dir: Path | None = None) -> None:
    """Write whole or not at all (a stopped run never leaves half a page where the preset reads)."""
    tmp = (tmp_dir or path.parent) / (path.name + ".part")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
