"""The playbook: stages, steps with deadlines, client card, segment rules and norms."""

from dealpulse.playbook.load import (
    default_playbook_text,
    load_playbook,
    parse_playbook,
    playbook_for_store,
    playbook_text_for_store,
    save_playbook_to_store,
)
from dealpulse.playbook.model import Playbook, Segment, Step

__all__ = ["Playbook", "Segment", "Step", "default_playbook_text", "load_playbook", "parse_playbook", "playbook_for_store", "playbook_text_for_store",
           "save_playbook_to_store"]
