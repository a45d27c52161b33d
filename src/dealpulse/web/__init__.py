"""The web app (`dealpulse serve`): server-rendered pages for every role and the JSON API.

- `users`: users, roles, API tokens, login sessions (no web framework; the CLI uses it too)
- `scope`: what a user may see and do (one module; unit-tested)
- `data`: the documents shown, on a `dealpulse.app.Moment` (the same code the CLI calls)
- `app`: the FastAPI application (`create_app(store)`), templates in `templates/`, JS in `static/`
"""
