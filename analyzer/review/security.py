"""The review app's guards (pure helpers; the Flask hooks in :mod:`analyzer.review.app` call them).

* **Access token** (off loopback): a random token printed at start; a request must carry it as
  ``?token=`` (once: it is then kept in an HttpOnly cookie), the ``X-Review-Token`` header,
  ``Authorization: Bearer``, or the cookie.
* **Host header** on loopback: only ``localhost`` / ``127.0.0.1`` / ``[::1]`` (a web page on another
  site cannot reach the app through DNS rebinding).
* **CSRF**: every write needs the header ``X-CSRF-Token`` = HMAC(server secret, session cookie) and an
  ``Origin`` (or ``Referer``) of the app itself.
* **Audio**: only the file recorded for a call in the database, only if it is a regular file whose
  content is the analysed content (``content_sha256``), and not a symlink out of its folder.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import os
import threading
from pathlib import Path
from urllib.parse import urlsplit

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
TOKEN_COOKIE = "review_token"
SESSION_COOKIE = "review_session"
CSRF_HEADER = "X-CSRF-Token"
TOKEN_HEADER = "X-Review-Token"


def is_loopback(host: str) -> bool:
    """Whether a listen address only accepts connections from this machine."""
    if host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(host_header: str) -> str:
    """The host part of a ``Host`` header (``127.0.0.1:8765`` -> ``127.0.0.1``, ``[::1]:80`` -> ``::1``)."""
    value = (host_header or "").strip().lower()
    if value.startswith("["):
        return value[1:value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


def host_allowed(host_header: str) -> bool:
    """On loopback: the request names this machine (not a rebinding attacker's domain)."""
    return host_name(host_header) in LOOPBACK_NAMES


def token_matches(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(str(given).encode(), token.encode())


def bearer(authorization: str | None) -> str | None:
    if authorization and authorization.lower().startswith("bearer "):
        return authorization[7:].strip()
    return None


def csrf_token(secret: bytes, session_id: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of the session id under the server's secret."""
    return hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()


def csrf_ok(secret: bytes, session_id: str | None, given: str | None) -> bool:
    return bool(session_id) and bool(given) and hmac.compare_digest(csrf_token(secret, session_id), str(given))


def same_origin(origin: str | None, referer: str | None, host_header: str) -> bool:
    """The write comes from a page of this app: its ``Origin`` (or, without one, its ``Referer``) has our host."""
    source = origin if origin and origin != "null" else referer
    if not source:
        return False
    parts = urlsplit(source)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == (host_header or "").lower()


class AudioGuard:
    """Decides which file may be served as a call's audio, caching content checks by file identity."""

    def __init__(self):
        self._checked: dict[tuple, str] = {}
        self._lock = threading.Lock()

    def _digest(self, path: str, identity: tuple) -> str:
        with self._lock:
            if identity in self._checked:
                return self._checked[identity]
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
        value = digest.hexdigest()
        with self._lock:
            self._checked[identity] = value
        return value

    def resolve(self, recorded_path: str | None, content_sha256: str | None) -> tuple[Path | None, str]:
        """``(file to serve, "")``, or ``(None, reason)`` when the recorded audio may not be served."""
        if not recorded_path:
            return None, "no audio recorded for this call"
        recorded = os.path.abspath(recorded_path)
        real = os.path.realpath(recorded)
        folder = os.path.realpath(os.path.dirname(recorded))
        if os.path.dirname(real) != folder:
            return None, "the audio file is a link out of its folder"
        try:
            stat = os.stat(real)
        except OSError:
            return None, "the audio file is gone"
        import stat as stat_module

        if not stat_module.S_ISREG(stat.st_mode):
            return None, "the audio path is not a regular file"
        if content_sha256:
            identity = (real, stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)
            if self._digest(real, identity) != content_sha256:
                return None, "the audio file changed since it was analysed"
        return Path(real), ""
