"""A JSON message to a webhook when a study ends or a search fails (``notify.webhook``).

The body is what a Slack incoming webhook takes (``text``, which Slack shows; the other fields it ignores)
plus the same facts as fields, for a webhook of your own: ``sweep``, ``event``, ``searches_done``,
``searches_failed``, ``failed`` (``[{"search", "reason"}]``), ``location``, ``elapsed_s``.

A notification never fails a study: ``post`` retries a few times within its time budget and returns what
went wrong as one line instead of raising. Only the standard library is used.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlsplit

SCHEMES = ("http", "https")
RETRIES = 2  # further attempts after a connection error, a timeout, HTTP 429 or 5xx
BACKOFF_S = 0.5  # the wait before the first retry, doubled after each: 0.5 s, 1 s
SHOWN_FAILURES = 5  # failed searches listed in the text; the `failed` field has them all
REASON_CHARS = 300  # of each reason in the text: a traceback's last line, not the traceback


def post(
    url: str, message: dict[str, Any], *, timeout_s: float = 10, retries: int = RETRIES, backoff_s: float = BACKOFF_S
) -> str | None:
    """POST ``message`` as JSON to ``url``; return None once the webhook took it (HTTP 2xx), else one line
    saying why it was not told. Never raises.

    A connection error, a timeout, HTTP 429 or a 5xx is retried up to ``retries`` times, waiting
    ``backoff_s`` then twice as long each time; any other status is final. ``timeout_s`` bounds the whole
    call, retries and waits included, so a webhook that hangs holds the sweep that long at most. The line
    names the webhook by its scheme and host only: a webhook's path often is its secret (Slack's is).

    Example::

        trouble = post("https://hooks.slack.com/services/T0/B0/XYZ", search_failed(sweep="s", search="a", reason="r"))
        if trouble is not None:
            print(f"notify: {trouble}")
    """
    where = _redacted(url)
    try:
        if problems := url_problems(url):
            return f"webhook not told: {problems[0]}"
        body = json.dumps(message, default=str).encode()
        deadline = time.monotonic() + timeout_s
        wait, attempts = backoff_s, 0
        while True:
            attempts += 1
            retry_after, trouble = _attempt(url, body, timeout_s=max(deadline - time.monotonic(), 0.1))
            if trouble is None:
                return None
            pause = wait if retry_after is None else retry_after
            if retry_after is False or attempts > retries or pause >= deadline - time.monotonic():
                tries = f" after {attempts} attempts" if attempts > 1 else ""
                return f"webhook {where} not told ({trouble}{tries}); the study goes on"
            time.sleep(pause)
            wait *= 2
    except Exception as exc:  # whatever it is, a notification must not end a study
        return f"webhook {where} not told ({_one_line(f'{type(exc).__name__}: {exc}')}); the study goes on"


def _attempt(url: str, body: bytes, *, timeout_s: float) -> tuple[float | bool | None, str | None]:
    """One POST: (retry hint, None) when it was taken, else (hint, what went wrong). The hint is False for a
    status no retry mends, the seconds a 429's or 503's Retry-After asks for, or None."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "xstilts-notify"},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            response.read(4096)  # let the server finish its answer; its content is not used
            return None, None
    except urllib.error.HTTPError as exc:
        said = f"HTTP {exc.code} {exc.reason}"
        if exc.code == 429 or exc.code >= 500:
            return _retry_after(exc.headers.get("Retry-After")), said
        return False, said  # 4xx: a wrong or revoked URL, a body it refuses; retrying sends the same
    except urllib.error.URLError as exc:
        return None, _one_line(str(exc.reason))
    except (TimeoutError, OSError) as exc:  # a read that timed out, a connection reset mid-answer
        return None, _one_line(f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value else None
    except ValueError:  # an HTTP date: wait as usual
        return None


def url_problems(url: object) -> list[str]:
    """What keeps ``url`` from being a webhook to POST to (``notify.webhook``), each naming the value and the
    fix; empty when it is an http(s) URL with a host.

        >>> url_problems("https://hooks.slack.com/services/T0/B0/XYZ")
        []
        >>> url_problems("hooks.slack.com/services/T0/B0/XYZ")  # doctest: +ELLIPSIS
        ['notify.webhook `hooks.slack.com/services/T0/B0/XYZ` is no http(s) URL; write it whole, ...']
    """
    fix = "write it whole, e.g. https://hooks.slack.com/services/T000/B000/XXXX (or leave notify.webhook out)"
    if not isinstance(url, str) or not url.strip():
        return [f"notify.webhook is {url!r}; {fix}"]
    if url != url.strip() or any(c.isspace() for c in url):
        return [f"notify.webhook `{url}` has white space in it; {fix}"]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is no number in 0-65535
    except ValueError as exc:
        return [f"notify.webhook `{url}` is no URL ({exc}); {fix}"]
    if parts.scheme.lower() not in SCHEMES:
        said = f" (its scheme is `{parts.scheme}`)" if parts.scheme and parts.netloc else ""
        return [f"notify.webhook `{url}` is no http(s) URL{said}; {fix}"]
    if not parts.hostname:
        return [f"notify.webhook `{url}` names no host; {fix}"]
    return []


def study_ended(*, sweep: str, location: str, done: list[str], failed: dict[str, str], elapsed_s: float) -> dict:
    """The message for a study that ended: its searches done and failed (search -> reason), and where to look.

    >>> study_ended(sweep="quickstart", location="/runs/q", done=["a"] * 6, failed={}, elapsed_s=192)["text"]
    'xstilts sweep `quickstart`: finished, 6 searches done, 0 failed, in 3m12s — sweep query /runs/q --pivot'
    """
    text = (
        f"xstilts sweep `{sweep}`: finished, {len(done)} search{'es' if len(done) != 1 else ''} done, "
        f"{len(failed)} failed, in {duration(elapsed_s)} — sweep query {location} --pivot"
    )
    shown = list(failed.items())[:SHOWN_FAILURES]
    lines = [f"• `{search}`: {_short(reason)}" for search, reason in shown]
    if len(failed) > len(shown):
        lines.append(f"… and {len(failed) - len(shown)} more (sweep status {location})")
    return {
        "text": "\n".join([text, *lines]),
        "sweep": sweep,
        "event": "study_ended",
        "location": location,
        "searches_done": len(done),
        "searches_failed": len(failed),
        "done": list(done),
        "failed": [{"search": search, "reason": reason} for search, reason in failed.items()],
        "elapsed_s": round(float(elapsed_s), 1),
    }


def search_failed(*, sweep: str, search: str, reason: str) -> dict:
    """The message for a search that failed while the study goes on.

    >>> search_failed(sweep="quickstart", search="target-toy_nli-toy_order", reason="every trial errored")["text"]
    'xstilts sweep `quickstart`: search `target-toy_nli-toy_order` failed: every trial errored'
    """
    return {
        "text": f"xstilts sweep `{sweep}`: search `{search}` failed: {_short(reason)}",
        "sweep": sweep,
        "event": "search_failed",
        "search": search,
        "searches_failed": 1,
        "failed": [{"search": search, "reason": reason}],
    }


def duration(seconds: float) -> str:
    """``192`` -> ``3m12s``; ``45`` -> ``45s``; ``3720`` -> ``1h02m``; ``97200`` -> ``1d03h``."""
    s = max(int(round(seconds)), 0)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def _short(reason: str) -> str:
    line = _one_line(reason)
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _redacted(url: object) -> str:
    """``https://hooks.slack.com/…``: the scheme and host, never the path or query that may hold a secret."""
    try:
        parts = urlsplit(str(url))
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "(unparsable URL)"
    return f"{parts.scheme}://{host}{port}/…" if parts.scheme and host else "(no URL)"
