"""``hpsearch dashboard``: optuna-dashboard, live, over the results database, safe by default.

The page is optuna-dashboard's own (``optuna_dashboard.wsgi``) reading
:class:`~hpsearch.searcher._optuna_storage.HpsearchOptunaStorage`, wrapped in one WSGI
middleware that:

- checks the token on every request when one is set (required off loopback): the
  ``Authorization: Bearer`` header, the ``hpsearch_token`` cookie, or ``?token=`` once (which
  sets the cookie and redirects to the same page without it, so the token leaves the address bar);
- refuses every method but GET/HEAD with 405 and a one-line reason (the dashboard is read-only:
  notes, deletes and tells never reach a search);
- serves the front page (``/``): every search with status, progress, running trials and best
  value (:mod:`~hpsearch.searcher._dashboard_page`), linking to optuna-dashboard's pages;
- makes polls live: optuna-dashboard's own trial cache (2-10 s) is skipped, since the storage
  re-reads only running and new trials itself, and its page polls every ``POLL_S`` seconds
  instead of 10.

Served by waitress (a production WSGI server, threads, no debug pages), on 127.0.0.1 unless told.
"""

from __future__ import annotations

import contextlib
import gzip
import hmac
import ipaddress
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from hpsearch.errors import HpsearchError, UserInputError

ENV_TOKEN = "HPSEARCH_DASHBOARD_TOKEN"
COOKIE = "hpsearch_token"
POLL_S = 3  # seconds between the page's polls (optuna-dashboard's default is 10)
_READ_METHODS = ("GET", "HEAD")

Environ = dict[str, Any]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[Environ, StartResponse], Iterable[bytes]]


class DashboardError(UserInputError):
    """A dashboard flag that cannot be used (address without a token, unreadable token file)."""


def one_line(e: BaseException) -> str:
    """An error's message on one line."""
    return " ".join(str(e).split()) or type(e).__name__


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_token(host: str, token_file: Path | None = None) -> str | None:
    """The token to require: from ``token_file`` if given, else env ``HPSEARCH_DASHBOARD_TOKEN``.

    Raises:
        DashboardError: the file cannot be read or is empty, or ``host`` is not a loopback
            address and no token was given.
    """
    token = None
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
        except OSError as e:
            raise DashboardError(
                f"--token-file: cannot read {str(token_file)!r} ({e.strerror})",
                field="token_file",
            ) from None
        if not token:
            raise DashboardError(f"--token-file: {str(token_file)!r} is empty", field="token_file")
    else:
        token = os.environ.get(ENV_TOKEN, "").strip() or None
    if token is None and not is_loopback(host):
        raise DashboardError(
            f"--host {host}: binding an address other than loopback needs a token "
            f"(set {ENV_TOKEN} or pass --token-file FILE)",
            field="host",
        )
    return token


def _cookies(environ: Environ) -> dict[str, str]:
    out = {}
    for part in environ.get("HTTP_COOKIE", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key:
            out[key] = value
    return out


def _same(given: str | None, token: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), token.encode())


def _reply(start: StartResponse, status: str, text: str, headers: list | None = None) -> list:
    body = (text + "\n").encode()
    start(
        status,
        [
            ("Content-Type", "application/json" if text.startswith("{") else "text/plain"),
            ("Content-Length", str(len(body))),
            *(headers or []),
        ],
    )
    return [body]


class _Bundle:
    """optuna-dashboard's page script with the poll interval set to ``POLL_S`` (served as is
    when the expected default is not found exactly once)."""

    def __init__(self, static_dir: Path) -> None:
        raw = (static_dir / "bundle.js").read_bytes()
        old, new = b"l_=Cx(10)", f"l_=Cx({POLL_S})".encode()
        self.plain = raw.replace(old, new) if raw.count(old) == 1 else raw
        self.gz = gzip.compress(self.plain, compresslevel=6, mtime=0)

    def serve(self, environ: Environ, start: StartResponse) -> list[bytes]:
        use_gz = "gzip" in environ.get("HTTP_ACCEPT_ENCODING", "")
        body = self.gz if use_gz else self.plain
        headers = [("Content-Type", "text/javascript"), ("Content-Length", str(len(body)))]
        if use_gz:
            headers.append(("Content-Encoding", "gzip"))
        start("200 OK", headers)
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]


class Guard:
    """The middleware around optuna-dashboard's app (see the module docstring)."""

    def __init__(
        self,
        app: Any,
        *,
        token: str | None,
        static_dir: Path | None = None,
        searches: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.searches = searches
        self.bundle = _Bundle(static_dir) if static_dir is not None else None

    def __call__(self, environ: Environ, start: StartResponse) -> Iterable[bytes]:
        if self.token is not None:
            refused = self._check_token(environ, start)
            if refused is not None:
                return refused
        method = environ.get("REQUEST_METHOD", "GET")
        if method not in _READ_METHODS:
            reason = (
                '{"reason": "the hpsearch dashboard is read-only: notes, deletes and tells '
                'are not stored, and nothing here changes a search"}'
            )
            return _reply(start, "405 Method Not Allowed", reason, [("Allow", "GET, HEAD")])
        path = environ.get("PATH_INFO", "")
        if self.searches is not None and path in ("", "/", "/searches"):
            try:
                return self._front_page(environ, start)
            except HpsearchError as e:  # the database went away: say so, keep serving
                return _reply(start, "503 Service Unavailable", one_line(e), [("Retry-After", "5")])
        if self.bundle is not None and path == "/static/bundle.js":
            return self.bundle.serve(environ, start)
        cache = getattr(self.app, "_inmemory_cache", None)
        if cache is not None and path.startswith("/api/"):  # our storage keeps trials fresh
            with cache._trials_cache_lock:
                cache._trials_last_fetched_at.clear()
        return self.app(environ, start)

    def _front_page(self, environ: Environ, start: StartResponse) -> list[bytes]:
        from hpsearch.searcher._dashboard_page import searches_page

        assert self.searches is not None
        body = searches_page(self.searches())
        start(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'"),
                ("Cache-Control", "no-store"),
            ],
        )
        return [] if environ.get("REQUEST_METHOD") == "HEAD" else [body]

    def _check_token(self, environ: Environ, start: StartResponse) -> list[bytes] | None:
        assert self.token is not None
        auth = environ.get("HTTP_AUTHORIZATION", "")
        bearer = auth[7:].strip() if auth.lower().startswith("bearer ") else None
        if _same(bearer, self.token) or _same(_cookies(environ).get(COOKIE), self.token):
            return None
        query = parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        given = [v for k, v in query if k == "token"]
        if given and _same(given[0], self.token):
            rest = urlencode([(k, v) for k, v in query if k != "token"])
            where = environ.get("PATH_INFO", "/") + (f"?{rest}" if rest else "")
            cookie = f"{COOKIE}={self.token}; Path=/; HttpOnly; SameSite=Strict"
            return _reply(start, "303 See Other", "", [("Location", where), ("Set-Cookie", cookie)])
        return _reply(
            start,
            "401 Unauthorized",
            "hpsearch dashboard: a token is required (open the address with ?token=TOKEN once, "
            "or send 'Authorization: Bearer TOKEN')",
            [("WWW-Authenticate", "Bearer")],
        )


def dashboard_app(
    storage: Any, *, token: str | None = None, refresh_s: float = 1.0, warm: bool = False
) -> Guard:
    """The WSGI app: optuna-dashboard over a read-only view of an open
    :class:`hpsearch.storage.Storage`, behind :class:`Guard` (``token`` None: no token check).
    ``warm``: read every search in a background thread now, before the first page asks."""
    import optuna_dashboard

    from hpsearch.searcher._optuna_storage import HpsearchOptunaStorage

    view = HpsearchOptunaStorage(storage, refresh_s=refresh_s)
    _unavailable_as_503(view)
    app = optuna_dashboard.wsgi(view)
    static = Path(optuna_dashboard.__file__).parent / "public"
    bundle = static if (static / "bundle.js").exists() else None
    if warm:
        threading.Thread(target=_quietly(view.warm), name="dashboard-warm", daemon=True).start()
    return Guard(app, token=token, static_dir=bundle, searches=view.search_rows)


_READS = (
    "get_all_studies get_all_trials get_trial get_best_trial get_study_id_from_name "
    "get_study_name_from_id get_study_directions get_study_user_attrs get_study_system_attrs "
    "get_trial_id_from_study_id_trial_number"
)


def _unavailable_as_503(view: Any) -> None:
    """An unreachable database answers 503 with its one-line reason (optuna-dashboard turns any
    other error into a bare 500), and the server keeps serving until it comes back."""
    import bottle

    for name in _READS.split():
        method = getattr(view, name)

        def wrapped(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
            try:
                return _method(*args, **kwargs)
            except HpsearchError as e:
                raise bottle.HTTPError(503, one_line(e)) from None

        setattr(view, name, wrapped)


def _quietly(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` for a background thread: a failure there is left for the first request to meet."""

    def run() -> None:
        with contextlib.suppress(Exception):
            fn()

    return run


def serve_dashboard(
    url: str | None,
    *,
    host: str = "127.0.0.1",
    port: int = 8080,
    token_file: Path | None = None,
    threads: int = 4,
    echo: Callable[[str], None] | None = None,
) -> None:
    """Serve the dashboard until Ctrl-C (then returns: the server stops, the database closes).

    Raises:
        DashboardError: a non-loopback ``host`` without a token, or a bad token file.
        BadDatabaseURLError, DatabaseNotFoundError, DatabaseUnavailableError: as ``hpsearch.open``.
    """
    import waitress

    from hpsearch.storage import mask_url, open_storage

    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    token = resolve_token(host, token_file)
    store = open_storage(url, purpose="read", create=False)
    try:
        app = dashboard_app(store, token=token, warm=True)
        try:
            server = waitress.create_server(app, host=host, port=port, threads=threads, ident=None)
        except OSError as e:  # in use, not an address of this machine, no permission
            raise DashboardError(
                f"--port {port}: cannot listen on {host}:{port} ({e.strerror or e})", field="port"
            ) from None
        shown = f"[{host}]" if ":" in host else host
        guard = "token required" if token else "loopback only, no token"
        say(
            f"hpsearch dashboard: http://{shown}:{server.effective_port}/ "
            f"({guard}) reading {mask_url(store.url)}; Ctrl-C stops it"
        )
        with _stop_on_signals():
            try:
                server.run()  # returns on Ctrl-C (waitress catches KeyboardInterrupt)
            except KeyboardInterrupt:
                pass
            finally:
                server.close()
        say("hpsearch dashboard: stopped")
    finally:
        store.close()


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[None]:
    """Ctrl-C (SIGINT, even when inherited as ignored) and SIGTERM (``docker stop``) stop the
    server the same way; the previous handlers come back afterwards (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    old = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in old.items():
            signal.signal(sig, handler)
