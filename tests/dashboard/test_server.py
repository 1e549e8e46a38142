"""The dashboard's server: token on every request, read-only, live polls, start-up and Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from hpsearch.searcher._dashboard import (
    ENV_TOKEN,
    POLL_S,
    DashboardError,
    is_loopback,
    resolve_token,
)
from tests.dashboard import stored

TOKEN = "s3cret-token-for-tests"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def fetch(url: str, *, method: str = "GET", headers: dict | None = None, follow: bool = True):
    """(status, headers, body) of one request."""
    req = urllib.request.Request(url, method=method, headers=headers or {})
    opener = urllib.request.build_opener() if follow else urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_loopback_and_token_rules(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_TOKEN, raising=False)
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    assert resolve_token("127.0.0.1") is None
    with pytest.raises(DashboardError, match=r"--host 0\.0\.0\.0: .*needs a token"):
        resolve_token("0.0.0.0")
    monkeypatch.setenv(ENV_TOKEN, TOKEN)
    assert resolve_token("0.0.0.0") == TOKEN
    (tmp_path / "tok").write_text("from-file\n")
    assert resolve_token("0.0.0.0", tmp_path / "tok") == "from-file"
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(DashboardError, match=r"--token-file: .* is empty"):
        resolve_token("0.0.0.0", tmp_path / "empty")
    with pytest.raises(DashboardError, match="--token-file: cannot read"):
        resolve_token("0.0.0.0", tmp_path / "missing")


def test_token_is_checked_on_every_request(serve):
    base = serve(token=TOKEN).base
    for path in ("/dashboard", "/api/studies", "/api/studies/1", "/static/bundle.js"):
        status, _, body = fetch(base + path)
        assert status == 401, path
        assert TOKEN.encode() not in body and b"token is required" in body
    status, _, _ = fetch(base + "/api/studies", headers={"Authorization": "Bearer wrong"})
    assert status == 401
    status, _, body = fetch(base + "/api/studies", headers={"Authorization": f"Bearer {TOKEN}"})
    assert status == 200 and stored.SINGLE.encode() in body
    # ?token= once: a cookie, and a redirect that drops the token from the address
    status, headers, _ = fetch(base + f"/dashboard?token={TOKEN}", follow=False)
    assert status == 303 and headers["Location"] == "/dashboard"
    cookie = headers["Set-Cookie"].split(";")[0]
    assert "HttpOnly" in headers["Set-Cookie"]
    status, _, _ = fetch(base + "/api/studies", headers={"Cookie": cookie})
    assert status == 200


def test_read_only_and_live(serve):
    served = serve()
    base = served.base
    for method, path in (
        ("DELETE", "/api/studies/1"),
        ("PUT", "/api/studies/1/note"),
        ("POST", "/api/trials/6/tell"),
        ("POST", "/api/studies"),
    ):
        status, _, body = fetch(base + path, method=method)
        assert status == 405 and b"read-only" in body, (method, path)
    status, _, body = fetch(base + "/api/studies/1")
    before = json.loads(body)["trials"]
    assert [t["state"] for t in before][-1] == "Running"
    assert served.store.get_trial(stored.SINGLE, 5).state.value == "running"
    stored.add_trial(served.store, stored.SINGLE, 6, epochs=4)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:  # shows within 5 s (refresh_s is 0.5 here)
        trials = json.loads(fetch(base + "/api/studies/1")[2])["trials"]
        if len(trials) == 7:
            break
        time.sleep(0.2)
    assert len(trials) == 7 and trials[6]["state"] == "Complete"
    assert len(trials[6]["intermediate_values"]) == 4
    status, _, script = fetch(base + "/static/bundle.js")
    assert status == 200 and f"l_=Cx({POLL_S})".encode() in script


def _cli(*args: str, env: dict | None = None) -> subprocess.Popen:
    code = "import sys\nfrom hpsearch.cli import main\nsys.argv[0] = 'hpsearch'\nmain()\n"
    return subprocess.Popen(
        [sys.executable, "-c", code, "dashboard", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=Path(__file__).resolve().parents[2],
    )


def test_command_starts_on_loopback_and_stops_on_ctrl_c(results):
    url, _ = results
    proc = _cli("--storage", url, "--port", "0")
    try:
        line = proc.stderr.readline()
        assert line.startswith("hpsearch dashboard: http://127.0.0.1:"), line
        assert "loopback only" in line and "Ctrl-C" in line
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert fetch(f"http://127.0.0.1:{port}/dashboard")[0] == 200
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=15)
    finally:
        proc.kill()
    assert proc.returncode == 0 and "stopped" in err and "Traceback" not in err


def test_command_refuses_other_addresses_without_token_and_masks_passwords(results):
    env = {ENV_TOKEN: ""}
    proc = _cli("--host", "0.0.0.0", "--port", "0", env=env)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"error: --host 0.0.0.0: binding an address other than loopback needs a token "
        f"(set {ENV_TOKEN} or pass --token-file FILE)"
    ]
    bad = "postgresql+psycopg://me:hunter2@127.0.0.1:1/none"
    proc = _cli("--storage", bad, "--port", "0")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (1, 2) and "hunter2" not in err and err.startswith("error:")


def test_the_start_line_and_pages_never_show_the_password():
    from sqlalchemy.engine import make_url

    from hpsearch.storage import open_storage
    from tests.pg_util import SKIP_REASON, create_database, drop_database, postgres_server_url

    if postgres_server_url() is None:
        pytest.skip(SKIP_REASON)
    url = create_database()
    try:
        store = open_storage(url)
        stored.fill(store)
        store.close()
        secret = "hunter2-not-shown"  # the test server trusts loopback: any password works
        with_pw = make_url(url).set(password=secret).render_as_string(hide_password=False)
        proc = _cli("--storage", with_pw, "--port", "0")
        try:
            line = proc.stderr.readline()
            assert ":***@" in line and secret not in line, line
            port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
            for path in ("/", "/api/studies", "/api/studies/1", "/api/meta"):
                status, _, body = fetch(f"http://127.0.0.1:{port}{path}")
                assert status == 200 and secret.encode() not in body, path
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=15)
        finally:
            proc.kill()
        assert secret not in err
    finally:
        drop_database(url)


def test_front_page_escapes_names_and_shows_progress():
    from hpsearch.searcher._dashboard_page import searches_page

    page = searches_page(
        [
            {
                "id": 3,
                "name": "<script>alert(1)</script>",
                "status": "running",
                "done": 4,
                "total": 10,
                "running": 2,
                "best": float("nan"),
                "directions": ["maximize"],
            }
        ]
    ).decode()
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "4 / 10" in page and ">nan<" in page and 'href="/dashboard/studies/3"' in page
    assert "no searches" in searches_page([]).decode()


def test_a_port_in_use_is_one_error_line(results):
    import socket

    url, _ = results
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        proc = _cli("--storage", url, "--port", str(port))
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [
        f"error: --port {port}: cannot listen on 127.0.0.1:{port} (Address already in use)"
    ]


def test_an_unreachable_database_is_503_with_the_reason_and_serving_goes_on(results):
    import io

    from hpsearch.searcher._dashboard import dashboard_app
    from hpsearch.storage import DatabaseUnavailableError, open_storage

    url, _ = results
    reader = open_storage(url, purpose="read", create=False)
    app = dashboard_app(reader, refresh_s=0.0)
    real = reader.list_searches

    def call(path: str) -> tuple[str, bytes]:
        got: list[str] = []
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path,
            "QUERY_STRING": "",
            "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8080",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": io.StringIO(),
        }
        body = b"".join(app(environ, lambda status, headers, exc=None: got.append(status)))
        return got[0], body

    def down():
        raise DatabaseUnavailableError("database postgresql://u:***@db/x unavailable after 6 tries")

    try:
        reader.list_searches = down
        status, body = call("/api/studies")
        assert status.startswith("503") and b"unavailable after 6 tries" in body
        status, body = call("/")
        assert status.startswith("503") and b"unavailable after 6 tries" in body
        reader.list_searches = real  # it came back
        status, body = call("/api/studies")
        assert status.startswith("200") and stored.SINGLE.encode() in body
    finally:
        reader.close()
