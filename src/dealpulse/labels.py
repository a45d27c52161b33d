"""Names a person reads instead of internal keys: managers by name (not `m01`), steps and stages by
the playbook's labels (not `proposal_sent`), metrics by their catalogue name (not
`step_on_time:proposal_sent`). Ids and keys stay in JSON beside these texts.

Playbook labels: an optional `labels:` section, per language, `{ru: {proposal_sent: "КП отправлено"}}`;
a name with no label is shown unsnaked (`proposal sent`).
"""

from __future__ import annotations

from typing import Any, Mapping

from dealpulse.i18n import t


def human(name: Any) -> str:
    """An internal name with no label, as words: `proposal_sent` -> `proposal sent`."""
    return "—" if name is None or name != name else str(name).replace("_", " ")


def label(name: Any, lang: str, playbook: Any = None) -> str:
    """The playbook's label of a stage, step, segment, card field or task type in `lang`, else its name in words."""
    if name is None or name != name:
        return "—"
    labels: Mapping[str, Mapping[str, str]] = getattr(playbook, "labels", None) or {}
    own = (labels.get(lang) or {}).get(str(name))
    if own:
        return str(own)
    key = f"label.{name}"
    text = t(key, lang)  # the built-in playbook's names
    if text != key:
        return text
    other = (labels.get("en") or {}).get(str(name))  # the playbook's English label, else the name in words
    return str(other) if other else human(name)


def people_of_store(store: Any) -> dict[str, str]:
    """manager_id -> display name from the store's `managers` table (a shared name gets its id)."""
    try:
        rows = store.query("SELECT manager_id, name FROM managers")
    except Exception:  # noqa: BLE001 - a store without managers: ids are shown as they are
        return {}
    return people_from_rows(rows)


def people_from_rows(rows: Any) -> dict[str, str]:
    names = {str(i): str(n).strip() for i, n in rows if i is not None and n is not None and str(n).strip()}
    counts: dict[str, int] = {}
    for n in names.values():
        counts[n] = counts.get(n, 0) + 1
    return {i: (n if counts[n] == 1 else f"{n} ({i})") for i, n in names.items()}


def person(manager_id: Any, people: Mapping[str, str] | None) -> str:
    """A manager's display name; the id where the store has no name."""
    if manager_id is None or manager_id != manager_id:
        return "—"
    return (people or {}).get(str(manager_id), str(manager_id))


def metric_label(key: Any, lang: str, playbook: Any = None) -> str:
    """`step_on_time:proposal_sent` -> `Proposal sent on time` from the catalogue (`metric.<family>`,
    with {name} the playbook's label of what follows the colon); a key not in it, in words."""
    if key is None:
        return "—"
    family, _, rest = str(key).partition(":")
    cat_key = f"metric.{family}"
    template = t(cat_key, lang, name="{name}")
    if template == cat_key:
        return human(key).replace(":", " · ")
    if rest:
        parts = [label(p, lang, playbook) if not p.startswith("within_") else label(p[7:], lang, playbook)
                 for p in rest.split(":")]
        names = ", ".join(parts)
        return template.format(name=names) if "{name}" in template else f"{template} · {names}"
    return template.replace("{name}", "").strip()


def playbook_source_text(source: Any, lang: str, key: str = "report.header.builtin") -> str:
    """Where a playbook came from, for people: `the built-in one` / `встроенный` for `<built-in playbook>`."""
    text = str(source or "")
    return t(key, lang) if text.startswith("<built-in") else text


__all__ = ["human", "label", "people_of_store", "people_from_rows", "person", "metric_label", "playbook_source_text"]
