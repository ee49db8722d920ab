"""The web side of ``newsseg annotate``: a Flask app over a :class:`~.session.Session`, and a
threaded local server for it.

Every request but the static files needs the run's random token: the page's address carries
it (``/?token=...``) and the page sends it back in the ``X-Newsseg-Token`` header of every API
request. Another page in the same browser can neither read the token nor set that header on
a cross-site request, so it cannot read or write through the server. Documents are addressed
by their number in the run; no request names a file.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import secrets
import threading
from collections.abc import Callable
from pathlib import Path

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.serving import BaseWSGIServer, make_server

from newsseg.annotate.session import Session
from newsseg.errors import NewssegError

TOKEN_HEADER = "X-Newsseg-Token"
TOKEN_PARAMETER = "token"
STATIC = Path(__file__).parent / "static"
SECURITY_HEADERS = {
    # Only the package's own script and style; no inline code, no other origin, no framing.
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
    "connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the page's address holds the token
    "Cache-Control": "no-store",
}


def new_token() -> str:
    """A random token for one run."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def create_app(session: Session, token: str) -> Flask:
    """The Flask app serving ``session``'s page and API, guarded by ``token``."""
    app = Flask(__name__, static_folder=str(STATIC), static_url_path="/static")
    page_html = (STATIC / "index.html").read_bytes()

    def has_token(given: str | None) -> bool:
        return given is not None and hmac.compare_digest(given.encode(), token.encode())

    @app.before_request
    def require_token():
        if request.endpoint in ("static", "favicon"):
            return None  # the package's own files: nothing of the run
        if request.path == "/":  # the address the user opens carries the token
            given = request.args.get(TOKEN_PARAMETER)
        else:  # the page sends it in a header, which no other site's page can set
            given = request.headers.get(TOKEN_HEADER)
        if not has_token(given):
            return _error(403, "missing or wrong token: open the address newsseg annotate printed")
        return None

    @app.after_request
    def secure(response: Response) -> Response:
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/")
    def page():
        return Response(page_html, mimetype="text/html")

    @app.get("/favicon.ico")
    def favicon():
        return Response(status=204)  # none: browsers ask for one anyway

    @app.get("/api/state")
    def state():
        return jsonify(session.state())

    @app.get("/api/documents/<int:index>")
    def document(index: int):
        return jsonify(session.document_view(index))

    @app.post("/api/documents/<int:index>")
    def save(index: int):
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or "labels" not in body:
            return _error(400, 'send JSON {"labels": [one label per paragraph]}')
        return jsonify(session.save(index, body["labels"]))

    @app.post("/api/train")
    def train():
        started = session.start_training()
        return jsonify({"started": started, **session.state()})

    @app.errorhandler(KeyError)
    def no_document(error: KeyError):
        return _error(404, f"no document {error.args[0]!r} in this run")

    @app.errorhandler(NewssegError)
    def known_error(error: NewssegError):
        return _error(400, str(error))

    @app.errorhandler(HTTPException)
    def http_error(error: HTTPException):
        return _error(error.code or 500, error.description or error.name)

    return app


def _error(status: int, message: str):
    response = jsonify({"error": message})
    response.status_code = status
    return response


class AnnotationServer:
    """A threaded HTTP server for one run, started and stopped from Python."""

    def __init__(self, session: Session, host: str = "127.0.0.1", port: int = 0) -> None:
        self.session = session
        self.token = new_token()
        self.app = create_app(session, self.token)
        try:
            self.server: BaseWSGIServer = make_server(host, port, self.app, threaded=True)
        except OSError as error:
            reason = error.strerror or error
            raise NewssegError(f"cannot listen on {host}:{port}: {reason}") from None
        self.host = host
        self.port = self.server.server_port
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/?{TOKEN_PARAMETER}={self.token}"

    def serve_forever(self) -> None:
        self.server.serve_forever()

    def start(self) -> AnnotationServer:
        """Serve in a background thread (tests)."""
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join()


def quiet_request_log() -> None:
    """No line per request on the terminal (the page's address, with its token, among them)."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


def run(
    session: Session,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    open_browser: bool = True,
    echo: Callable[[str], None] = print,
) -> None:
    """Serve ``session`` until interrupted, after saying where (and opening the browser)."""
    server = AnnotationServer(session, host, port)
    quiet_request_log()
    if not is_loopback(host):
        echo(
            f"warning: listening on {host}: other machines can reach this server; "
            "anyone with the address below can read and write the labels"
        )
    echo(f"annotating {len(session.documents)} documents; saving to {session.output_dir}")
    echo(f"open {server.url}  (Ctrl-C stops)")
    if open_browser:
        import webbrowser

        threading.Timer(0.5, webbrowser.open, args=(server.url,)).start()
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server.server_close()
