"""The command line. Each command group lives in its own module and registers on `app`."""

from __future__ import annotations

import importlib

from dealpulse.cli.app import app

# Command modules register themselves on import; a missing one must not break the rest.
_COMMAND_MODULES = ["playbook_cmd", "import_cmd", "metrics_cmd", "funnel_cmd", "norms_cmd", "report_cmd", "demo_cmd",
                    "score_cmd", "alerts_cmd", "optimism_cmd", "review_cmd", "validate_cmd", "backtest_cmd",
                    "dynamics_cmd", "changes_cmd", "sync_cmd", "user_cmd", "serve_cmd", "digest_cmd"]
for _name in _COMMAND_MODULES:
    try:
        importlib.import_module(f"dealpulse.cli.{_name}")
    except ModuleNotFoundError as _exc:  # pragma: no cover - only while a module is being written
        if _exc.name != f"dealpulse.cli.{_name}":
            raise


def main() -> None:
    app()


__all__ = ["app", "main"]
