"""Live sync from a CRM's API: `dealpulse sync amocrm|bitrix24`.

A sync pulls pages through the CRM's API (paged, within its rate limits, retried with back-off),
writes them as the dump folder the CRM's preset reads, and imports that folder the way
`dealpulse import PATH --source ...` does. The first run pulls everything; later runs pull what
changed since the cursor kept in the store. Modules: `http` (client and retries), `limits` (rate
limiters), `state` (cursor and staging folder), `amocrm` and `bitrix24` (the pullers), `run`.
"""

from dealpulse.sync.http import RetryPolicy, SyncError
from dealpulse.sync.run import SyncReport, run_sync, sync_amocrm, sync_bitrix24

__all__ = ["RetryPolicy", "SyncError", "SyncReport", "run_sync", "sync_amocrm", "sync_bitrix24"]
