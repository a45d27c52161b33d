"""The HTML report: `build_report(store, ...) -> str`, `write_report(store, path, ...) -> Path`."""

from dealpulse.report.build import ReportData, gather
from dealpulse.report.html import build_report, render_report, write_report

__all__ = ["ReportData", "build_report", "gather", "render_report", "write_report"]
