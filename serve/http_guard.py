"""The HTTP layer's own defences, as one ASGI middleware in front of Gradio's routes.

Why here: Gradio 6 checks passwords in its `/login` route and serves result files from its
`/gradio_api/file=` route, and neither lets the app throttle, audit, or say who may read
what. So `HttpGuard` (installed by `serve.app.launch` through FastAPI's `middleware=`):

1. sign-ins (`POST /login`): asks `serve.login_throttle` whether the attempt may be
   checked (HTTP 429 with Retry-After when not, after a growing delay when it may), lets
   Gradio check it (the password check itself runs off the event loop: see
   `AppContext.authenticate`), then records the outcome and writes failures to the audit
   log (user name tried, client address, time; never the password);
2. export files: a file the app exported (`serve.exports`) is served only to the user it
   was made for, and to nobody once it has expired (404 otherwise, as for a missing file);
3. every response: `X-Frame-Options: DENY` and `Content-Security-Policy: frame-ancestors
   'none'` (no clickjacking through a frame), `X-Content-Type-Options: nosniff`.

The client address is the TCP peer's: behind a reverse proxy every user shares the
proxy's address (configure the proxy to throttle, or trust its X-Forwarded-For there).
"""
from __future__ import annotations

import asyncio
import logging
import time
import unicodedata
from http.cookies import SimpleCookie
from urllib.parse import parse_qs

import anyio

from serve.login_throttle import LoginThrottle

log = logging.getLogger(__name__)

MAX_LOGIN_BODY = 16 * 1024
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"frame-ancestors 'none'"),
    (b"x-content-type-options", b"nosniff"),
)
FILE_ROUTES = ("/gradio_api/file=", "/gradio_api/file/")


def audit_name(user: str) -> str:
    """A user name as tried, safe for the audit log's `who` (printable, at most 64 characters)."""
    shown = "".join(c if unicodedata.category(c)[0] not in "CZ" or c == " " else "?" for c in user.strip())
    return shown[:64] or "-"


class HttpGuard:
    """Pure ASGI middleware: `Middleware(HttpGuard, ctx=ctx)`."""

    def __init__(self, app, ctx, throttle: LoginThrottle | None = None, clock=time.monotonic) -> None:
        self.app = app
        self.ctx = ctx
        self.throttle = throttle or ctx.login_throttle
        self.clock = clock

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        send = self._with_headers(send)
        path = scope.get("path", "")
        if scope.get("method") == "POST" and path.rstrip("/") == "/login":
            return await self._login(scope, receive, send)
        if path.startswith(FILE_ROUTES) and not self._may_read(scope, path):
            return await _plain(send, 404, b"Not found")
        return await self.app(scope, receive, send)

    @staticmethod
    def _with_headers(send):
        async def wrapped(message):
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message = {**message, "headers": list(message.get("headers", [])) + extra}
            await send(message)
        return wrapped

    # --- export files ----------------------------------------------------------------------

    def _may_read(self, scope, path: str) -> bool:
        exports = self.ctx.exports
        name = path.rstrip("/").rsplit("/", 1)[-1]
        if not exports.is_export_name(name):
            return True  # not an export: Gradio's own checks apply
        exports.sweep()
        return exports.may_read(_signed_in_user(scope), name)

    # --- sign-in -----------------------------------------------------------------------------

    async def _login(self, scope, receive, send):
        body = await _read_body(receive, MAX_LOGIN_BODY)
        if body is None:
            return await _plain(send, 413, b"Request too large")
        user = await _form_user(scope, body)
        address = (scope.get("client") or ("?", 0))[0]
        decision = self.throttle.admit(user, address, self.clock())
        if decision.refused:
            if decision.locked_now:
                await self._audit(user, "login.locked", {"address": address})
            retry = str(max(1, round(decision.retry_after))).encode()
            return await _plain(send, 429, b"Too many sign-in attempts; wait and try again.",
                                [(b"retry-after", retry)])
        held: list[dict] = []  # the answer is a few bytes: held until the outcome is audited
        ok = None
        try:
            if decision.wait > 0:
                await asyncio.sleep(decision.wait)

            async def hold(message):
                held.append(message)

            await self.app(scope, _replay(body, receive), hold)
            code = next((m["status"] for m in held if m["type"] == "http.response.start"), None)
            ok = True if code == 200 else False if code in (400, 401) else None
        finally:
            self.throttle.done(decision, ok, self.clock())
        if ok is not None:
            await self._audit(user, "login.ok" if ok else "login.failed", {"address": address})
        for message in held:
            await send(message)

    async def _audit(self, user: str, action: str, detail: dict) -> None:
        try:
            await anyio.to_thread.run_sync(self.ctx.store.audit, audit_name(user), action,
                                           {**detail, "user": user[:200]})
        except Exception:  # noqa: BLE001 - an audit failure must not turn into a 500 at sign-in
            log.exception("could not write the audit row for %s", action)


def _signed_in_user(scope) -> str | None:
    """The user Gradio's session cookie names (None when not signed in)."""
    app = scope.get("app")
    cookie_id = getattr(app, "cookie_id", None)
    tokens = getattr(app, "tokens", None)
    if cookie_id is None or tokens is None:
        return None
    raw = b"; ".join(v for k, v in scope.get("headers", []) if k == b"cookie").decode("latin-1")
    jar = SimpleCookie()
    try:
        jar.load(raw)
    except Exception:  # noqa: BLE001 - a malformed cookie header means nobody
        return None
    for name in (f"access-token-{cookie_id}", f"access-token-unsecure-{cookie_id}"):
        if name in jar and jar[name].value in tokens:
            return tokens[jar[name].value]
    return None


async def _read_body(receive, limit: int) -> bytes | None:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body"):
            break
    return b"".join(chunks)


def _replay(body: bytes, then=None):
    """An ASGI `receive` giving `body` once, then the client's own messages (a disconnect)."""
    sent = False

    async def receive():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        if then is not None:
            return await then()
        return {"type": "http.disconnect"}
    return receive


async def _form_user(scope, body: bytes) -> str:
    """The user name of a sign-in form, url-encoded (gradio_client) or multipart (the page)."""
    from starlette.requests import Request

    try:
        form = await Request(scope, _replay(body)).form()
        return str(form.get("username") or "")
    except Exception:  # noqa: BLE001 - a malformed form: Gradio answers it; we throttle by address
        try:
            return parse_qs(body.decode("utf-8", "replace")).get("username", [""])[0]
        except Exception:  # noqa: BLE001
            return ""


async def _plain(send, status: int, text: bytes, headers=()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(text)).encode()), *headers]})
    await send({"type": "http.response.body", "body": text})

