"""What a user may see and do: the one place the web app's roles are decided.

- head: every deal, every figure, every name; acts on alerts; marks reviews.
- lead: the deals and alerts of their team's managers (and department-wide figures); acts on them; marks
  reviews of their team's deals.
- manager: their own deals and own alerts; department-wide figures without other managers' names; acts on
  their own alerts; does not mark reviews.
- qc: the review queue and every deal, read-only (marks reviews, does not act on alerts).

Scope filters what is SHOWN, never the input: every analysis runs on the whole department (baselines and
the model stay the department's) and only its rows are filtered here. A deal outside the scope is "not
found" (404), not "forbidden", so its id tells nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping

from dealpulse.web.users import User


@dataclass(frozen=True)
class Scope:
    role: str
    login: str
    manager_id: str | None = None
    team: str | None = None
    managers: frozenset[str] | None = None  # the managers whose deals and names are visible; None: all

    # -- what is visible ---------------------------------------------------------------------------
    @property
    def everything(self) -> bool:
        return self.managers is None

    def sees_manager(self, manager_id: Any) -> bool:
        return self.managers is None or (manager_id is not None and str(manager_id) in self.managers)

    def sees_deal(self, owner: Any) -> bool:
        """A deal is visible when its owner (the manager id) is."""
        return self.sees_manager(owner)

    def deals(self, rows: Iterable[Mapping[str, Any]], owner_key: str = "owner") -> list[Any]:
        return [r for r in rows if self.sees_deal(r.get(owner_key))]

    def sees_alert(self, row: Mapping[str, Any]) -> bool:
        """An alert about a manager is visible with the manager; one about a stage, segment or channel is a
        department figure with no names in it, visible to all (quality control included)."""
        subject = row.get("subject") or {}
        if "manager" in subject:
            return self.sees_manager(subject["manager"])
        return True

    def alerts(self, rows: Iterable[Mapping[str, Any]]) -> list[Any]:
        return [r for r in rows if self.sees_alert(r)]

    def people(self, people: Mapping[str, str]) -> dict[str, str]:
        """The names this user may read (manager id -> name)."""
        return {k: v for k, v in people.items() if self.sees_manager(k)}

    def document(self, doc: Mapping[str, Any], people: Mapping[str, str]) -> dict[str, Any]:
        """Any command's JSON document within the scope (the commands without a route of their own: metrics,
        funnel, norms, optimism, dynamics, changes, validate-metrics).

        Rows and nested items about a manager outside the scope (an `owner`, `manager` or `manager_id` key,
        or a `subject` with a `manager`) are dropped; department and team figures (rows by segment, stage,
        channel, team...) stay. Then a safety net: a row that still names a manager outside the scope (their
        name or id anywhere in it) is dropped, and so is any other field of the document that does."""
        if self.everything:
            return dict(doc)
        hidden = {str(k): str(v) for k, v in people.items() if not self.sees_manager(k)}
        if not hidden:
            return dict(doc)
        pattern = re.compile("|".join(
            [re.escape(n) for n in sorted(set(hidden.values()), key=len, reverse=True) if n.strip()]
            + [rf"(?<![\w-]){re.escape(i)}(?![\w-])" for i in hidden]))

        def names_hidden(value: Any) -> bool:
            return bool(pattern.search(json.dumps(value, ensure_ascii=False, default=str)))

        def prune(value: Any) -> Any:
            if isinstance(value, list):
                return [prune(v) for v in value if not self._about_hidden(v)]
            if isinstance(value, dict):
                return {k: prune(v) for k, v in value.items()}
            return value

        out: dict[str, Any] = {}
        redacted = []
        for key, value in doc.items():
            value = prune(value)
            if key == "rows" and isinstance(value, list):
                value = [r for r in value if not names_hidden(r)]
            elif names_hidden(value):
                redacted.append(key)
                value = None
            out[key] = value
        if redacted:
            out["scope_redacted"] = redacted
        return out

    def _about_hidden(self, item: Any) -> bool:
        if not isinstance(item, Mapping):
            return False
        for key in ("owner", "manager", "manager_id"):
            if key in item and isinstance(item[key], (str, int)) and not self.sees_manager(item[key]):
                return True
        subject = item.get("subject")
        return isinstance(subject, Mapping) and "manager" in subject and not self.sees_manager(subject["manager"])

    # -- what may be done --------------------------------------------------------------------------
    def can_act_on_alert(self, row: Mapping[str, Any]) -> bool:
        """Acknowledge or snooze: not quality control (read-only), and only an alert within the scope; a
        department-wide alert only by the head or a lead."""
        if self.role == "qc" or not self.sees_alert(row):
            return False
        if "manager" not in (row.get("subject") or {}):
            return self.role in ("head", "lead")
        return True

    def can_mark_review(self, owner: Any) -> bool:
        return self.role in ("head", "qc", "lead") and self.sees_deal(owner)

    def as_dict(self) -> dict[str, Any]:
        return {"role": self.role, "login": self.login, "manager_id": self.manager_id, "team": self.team,
                "managers": None if self.managers is None else sorted(self.managers)}


def team_managers(store: Any, team: str | None) -> frozenset[str]:
    if not team:
        return frozenset()
    return frozenset(str(r[0]) for r in store.query("SELECT manager_id FROM managers WHERE team = ?", [team]))


def scope_of(user: User, store: Any) -> Scope:
    """The scope of `user` on the data in `store` (a lead's team members are read from `managers`)."""
    if user.role in ("head", "qc"):
        return Scope(role=user.role, login=user.login, manager_id=user.manager_id, team=user.team, managers=None)
    if user.role == "lead":
        members = team_managers(store, user.team)
        if user.manager_id:  # a playing lead sees their own deals too
            members = members | {user.manager_id}
        return Scope(role="lead", login=user.login, manager_id=user.manager_id, team=user.team, managers=members)
    # a manager, or an unknown role (nothing more than a manager)
    own = frozenset({user.manager_id}) if user.manager_id else frozenset()
    return Scope(role="manager" if user.role == "manager" else user.role, login=user.login,
                 manager_id=user.manager_id, team=user.team, managers=own)


__all__ = ["Scope", "scope_of", "team_managers"]
