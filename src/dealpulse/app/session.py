"""`Session(store).at(as_of)`: the one door every surface goes through.

The CLI, the HTML report, the web app and the digests open a `Session` on a store (and a playbook) and ask
it for a `Moment` — everything known at one as_of — and the moment for analyses. The session resolves
what each surface used to resolve on its own: the playbook in use (the one given, else the one saved at
import, else the built-in), the export's time zone, the people's display names, the as_of moment (the one
given, else the latest event in the data, never the clock), and the win model, trained once per data
version, playbook and moment and reused everywhere (`dealpulse.app.models`).

    with Session.open("deals.duckdb") as s:
        m = s.at("2024-06-30")
        m.trained()            # the win model as of then (cached)
        m.document_head()      # {"as_of": {...}, "zone": ..., "playbook": ...}: the head of every JSON document

Nothing here formats text for a person: that happens at the edges (cli/, report/, web/).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Callable
from zoneinfo import ZoneInfo

from dealpulse.metrics.asof import Snapshot, resolve_as_of, snapshot, store_tz
from dealpulse.playbook.load import parse_playbook, playbook_text_for_store
from dealpulse.playbook.model import Playbook


def moment_doc(dt: datetime, tz: ZoneInfo) -> dict[str, str] | None:
    """One moment in JSON: the export's local time, UTC (`...Z`) and the zone's name - the same in every
    document, the CLI's included (dealpulse.timefmt.moment_json)."""
    from dealpulse.timefmt import moment_json

    return moment_json(dt, tz)


class Session:
    """One store and one playbook. `Session.open(url)` connects (and closes on exit); `Session(store)` wraps
    a store the caller owns."""

    def __init__(self, store: Any, playbook: str | Path | Playbook | None = None, *, owns_store: bool = False):
        self.store = store
        self._owns = owns_store
        if isinstance(playbook, Playbook):  # parsed already (a library caller): its fields key the cached model
            self.playbook, self.playbook_source = playbook, playbook.source
            self.playbook_text = "parsed:" + repr(playbook)
        else:
            self.playbook_text, self.playbook_source = playbook_text_for_store(store, playbook)
            self.playbook = parse_playbook(self.playbook_text, self.playbook_source)
        self.tz: ZoneInfo = store_tz(store)
        self._people: dict[str, str] | None = None
        self._moments: dict[datetime, Moment] = {}

    @classmethod
    def open(cls, url: str | Path | None = None, playbook: str | Path | None = None) -> "Session":
        from dealpulse.store import connect

        return cls(connect(url), playbook, owns_store=True)

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for m in self._moments.values():
            m.release()
        self._moments.clear()
        if self._owns:
            self.store.close()

    @property
    def people(self) -> dict[str, str]:
        """manager_id -> display name."""
        if self._people is None:
            from dealpulse.labels import people_of_store

            self._people = people_of_store(self.store)
        return self._people

    def resolve(self, as_of: str | datetime | date | None = None) -> datetime:
        """The moment to compute at (naive UTC): the one given, else the latest event in the data. A text that
        is not a moment, or one more than AS_OF_SLACK after the data ends, is an OptionError on `as_of`."""
        if not isinstance(as_of, str):
            return resolve_as_of(self.store, as_of)
        from dealpulse.app.options import OptionError
        from dealpulse.errors import InputError
        from dealpulse.metrics.asof import AS_OF_SLACK, latest_event_at, parse_moment

        lang = getattr(self.store, "lang", "en")
        try:
            moment = parse_moment(as_of, self.tz)
        except InputError:
            raise OptionError("bad_as_of", "as_of", lang, got=as_of) from None
        latest = latest_event_at(self.store)
        if latest is not None and moment > latest + AS_OF_SLACK:  # never silently after the data ends
            def shown(m: datetime) -> str:
                return f"{m.replace(tzinfo=timezone.utc).astimezone(self.tz):%Y-%m-%d %H:%M} ({self.tz})"

            raise OptionError("after_data", "as_of", lang, key="asof.after_data", as_of=shown(moment),
                              last=shown(latest), days=(moment - latest).days, slack=AS_OF_SLACK.days,
                              suggestion_params={"last": latest.replace(tzinfo=timezone.utc).astimezone(self.tz).date().isoformat()})
        return moment

    def at(self, as_of: str | datetime | date | None = None) -> "Moment":
        """Everything known at `as_of`; the same object for the same moment within this session."""
        moment = self.resolve(as_of)
        if moment not in self._moments:
            self._moments[moment] = Moment(self, moment)
        return self._moments[moment]


@dataclass
class Moment:
    """A session at one as_of: the snapshot (what was known then) and the analyses on it."""

    session: Session
    as_of: datetime  # naive UTC
    _snap: Snapshot | None = field(default=None, repr=False)
    _trained: Any = field(default=None, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)
    _memo_lock: Any = field(default_factory=threading.RLock, repr=False)

    @property
    def store(self) -> Any:
        return self.session.store

    @property
    def playbook(self) -> Playbook:
        return self.session.playbook

    @property
    def tz(self) -> ZoneInfo:
        return self.session.tz

    @property
    def snapshot(self) -> Snapshot:
        if self._snap is None:
            self._snap = snapshot(self.store, self.as_of, self.playbook)
        return self._snap

    def trained(self) -> Any:
        """The win model as of this moment: trained once per data version, playbook and moment, then reused
        by every command, page and digest (`dealpulse.app.models`)."""
        if self._trained is None:
            from dealpulse.app.models import trained_model

            self._trained = trained_model(self.snapshot, self.session.playbook_text)
        return self._trained

    def trained_if_cached(self) -> Any | None:
        """The win model if it was trained already (this process or the store), else None - nothing is trained."""
        if self._trained is None:
            from dealpulse.app.models import cached_model

            self._trained = cached_model(self.snapshot, self.session.playbook_text)
        return self._trained

    def adopt_trained(self, trained: Any) -> Any:
        """Use (and keep in the process and the store) a model trained elsewhere for this moment - the report
        fits it in a worker thread while the other sections are computed; call this in the store's thread."""
        from dealpulse.app.models import keep_model

        keep_model(self.snapshot, self.session.playbook_text, trained)
        self._trained = trained
        return trained

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """`build()` once per moment and key (an analysis several results share: the alerts' replay for both
        languages, the web's pages); one thread builds, the others wait for it."""
        with self._memo_lock:
            if key not in self._memo:
                self._memo[key] = build()
            return self._memo[key]

    def document_head(self) -> dict[str, Any]:
        """The head every JSON document starts with."""
        return {"as_of": moment_doc(self.as_of, self.tz), "zone": str(self.tz), "playbook": self.session.playbook_source}

    def release(self) -> None:
        if self._snap is not None:
            self._snap.release()
            self._snap = None


__all__ = ["Session", "Moment", "moment_doc"]
