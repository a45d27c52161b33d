"""One sync run: pull the missing pages into the staging folder, import them through the CRM's
preset (the same code path as `dealpulse import PATH --source ...`), then advance the cursor and
clear the staging folder. A run that stops anywhere before the import commits leaves the cursor
as it was and keeps the pages: the next run fetches only what is missing and imports the whole
folder (imports upsert by key, so nothing is counted twice)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlsplit

from dealpulse.errors import InputError
from dealpulse.i18n import t
from dealpulse.sync.http import ApiClient, RetryPolicy
from dealpulse.sync.amocrm import chunk_label
from dealpulse.sync.limits import BucketLimiter, WindowLimiter
from dealpulse.sync.secrets import Redactor
from dealpulse.sync.state import Staging, load_cursor, save_cursor, staging_root

PullProgress = Callable[[str, int, int, "int | None"], None]
ImportProgress = Callable[[str, int, int], None]


@dataclass
class SyncReport:
    source: str
    account: str
    mode: str  # "full" or "incremental"
    resumed: bool
    pages: int
    records: dict[str, int]
    http: dict[str, Any]
    cursor_before: dict[str, Any]
    cursor_after: dict[str, Any]
    staging: str
    imported: Any = None  # the ImportReport
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "imported"}
        out["import"] = self.imported.to_dict() if self.imported is not None else None
        return out


def _http(client: ApiClient) -> dict[str, Any]:
    out = client.stats.to_dict()
    out["waited_s"] = round(client.stats.waited + float(getattr(client.limiter, "waited", 0.0)), 2)
    return out


def _check_mapping(mapping_path: Any, lang: str) -> None:
    if mapping_path is None:
        return
    p = Path(mapping_path)
    if not p.is_file():
        raise InputError(t("sync.err.no_mapping", lang, path=str(p)), suggestion=t("sync.err.no_mapping.suggestion", lang))
    try:
        from dealpulse.ingest.presets import load_account
    except ImportError:  # pragma: no cover - the presets are always there once released
        return
    load_account(p, lang)  # its problems, with lines, before anything is fetched


def run_sync(store: Any, puller: Any, *, account: str, mapping_path: Any, lang: str = "en",
             progress: PullProgress | None = None, import_progress: ImportProgress | None = None,
             root: Path | None = None) -> SyncReport:
    _check_mapping(mapping_path, lang)
    source = puller.source
    since = load_cursor(store, source, account)
    staging = Staging.open(root or staging_root(store.url), source, account, since, lang)
    try:
        return _pull_and_import(store, puller, staging, since, account, mapping_path, lang, progress, import_progress)
    finally:
        staging.release()


def _pull_and_import(store: Any, puller: Any, staging: Staging, since: dict[str, Any], account: str, mapping_path: Any,
                     lang: str, progress: PullProgress | None, import_progress: ImportProgress | None) -> SyncReport:
    from dealpulse.ingest import import_path

    source = puller.source
    cursor = puller.pull(staging, since, progress)
    records: dict[str, int] = {}
    for name, e in staging.manifest["entities"].items():
        label = chunk_label(name)
        records[label] = records.get(label, 0) + int(e.get("state", {}).get("records", 0))
    report = SyncReport(source=source, account=account, mode="incremental" if since else "full", resumed=staging.resumed,
                        pages=staging.page_count(), records=records, http=_http(puller.client),
                        cursor_before={k: v for k, v in since.items() if k != "synced_at"}, cursor_after=cursor,
                        staging=str(staging.folder))
    changed = getattr(puller, "changed", None)
    if since and changed is not None and not changed(staging):
        report.warnings.append(t("sync.nothing_new", lang))
    else:
        report.imported = import_path(store, staging.pages, source=source, mapping_path=mapping_path, lang=lang,
                                      progress=import_progress)
    save_cursor(store, source, account, cursor)
    staging.clear()
    return report


# -- the two CRMs ---------------------------------------------------------------------------
def sync_amocrm(store: Any, *, subdomain: str, token: str, mapping_path: Any, base_url: str | None = None,
                lang: str = "en", progress: PullProgress | None = None, import_progress: ImportProgress | None = None,
                retry: RetryPolicy | None = None, rate: int | None = None, root: Path | None = None,
                transport: Any = None) -> SyncReport:
    from dealpulse.sync.amocrm import RATE, AmoPuller
    from dealpulse.sync.amocrm import base_url as amo_base

    sub = (subdomain or "").strip()
    if not sub:
        raise InputError(t("sync.err.no_subdomain", lang), suggestion=t("sync.err.no_subdomain.suggestion", lang))
    redact = Redactor(token)
    client = ApiClient(amo_base(sub, base_url), limiter=WindowLimiter(rate or RATE, 1.0), redact=redact,
                       headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                       retry=retry, lang=lang, transport=transport, label="amoCRM")
    with client:
        return run_sync(store, AmoPuller(client), account=sub.lower(),
                        mapping_path=mapping_path, lang=lang, progress=progress, import_progress=import_progress, root=root)


def sync_bitrix24(store: Any, *, webhook: str, mapping_path: Any, base_url: str | None = None, lang: str = "en",
                  progress: PullProgress | None = None, import_progress: ImportProgress | None = None,
                  retry: RetryPolicy | None = None, bucket: tuple[int, float] | None = None, batch_size: int | None = None,
                  root: Path | None = None, transport: Any = None) -> SyncReport:
    from dealpulse.sync.bitrix24 import BATCH, CAPACITY, DRAIN, BitrixPuller, webhook_url

    try:
        url, secrets = webhook_url(webhook, base_url)
    except ValueError:
        raise InputError(t("sync.err.bad_webhook", lang), suggestion=t("sync.err.bad_webhook.suggestion", lang)) from None
    redact = Redactor(*secrets)
    capacity, drain = bucket or (CAPACITY, DRAIN)
    client = ApiClient(url, limiter=BucketLimiter(capacity, drain), redact=redact, headers={"Accept": "application/json"},
                       retry=retry, lang=lang, transport=transport, label="Bitrix24")
    parts = urlsplit(webhook.strip() if "://" in webhook else url)
    segs = [s for s in parts.path.split("/") if s]
    user = segs[1] if len(segs) >= 3 and segs[0] == "rest" else ""
    account = (parts.hostname or "portal") + (f"-u{user}" if user else "")
    with client:
        return run_sync(store, BitrixPuller(client, batch_size=batch_size or BATCH), account=account,
                        mapping_path=mapping_path, lang=lang, progress=progress, import_progress=import_progress, root=root)
