"""The application layer: one door (`Session(store).at(as_of)`) under the CLI, the report, the web app and
the digests. See `session.py`."""

from dealpulse.app.session import Moment, Session, moment_doc

__all__ = ["Session", "Moment", "moment_doc"]
