"""Digests that reach people: what changed, open alerts and deals to save, within each person's scope and
in their language, by e-mail, Telegram or a webhook (`dealpulse digest`, docs/digests.md).

- `people.py`: who gets a digest (the web app's users, with their delivery addresses) and what they see;
- `content.py`: the digest as typed values (codes and numbers, display names), built through the
  application layer (`dealpulse.app.Session(store).at(as_of)`) once per run for everyone;
- `render.py`: the same digest as plain text, an HTML e-mail, Telegram HTML messages, a JSON document;
- `deliver.py`: the channels (SMTP, Telegram Bot API, webhook), retries with back-off, rate limits, and the
  `digest_log` table that makes a re-run send only what was not delivered.
"""
