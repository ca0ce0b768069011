"""The webhook notifier (``sweep.track.notify``) against a real HTTP server on 127.0.0.1: what it sends, what it
retries, and that a webhook that fails or is not there never raises and costs little time."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sweep.track import notify


class Webhook:
    """An HTTP server on 127.0.0.1 that records each POST and answers with the next of ``statuses`` (200 once
    they are used up)."""

    def __init__(self, statuses: list[int] | None = None, *, headers: dict[str, str] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.headers = headers or {}
        self.posts: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.posts.append({"path": self.path, "headers": dict(self.headers), "body": json.loads(body)})
                status = hook.statuses.pop(0) if hook.statuses else 200
                self.send_response(status)
                for name, value in (hook.headers if status != 200 else {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/services/T0/B0/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Callable[..., Webhook]]:
    started: list[Webhook] = []

    def start(statuses: list[int] | None = None, **kwargs: object) -> Webhook:
        started.append(Webhook(statuses, **kwargs))
        return started[-1]

    yield start
    for hook in started:
        hook.close()


def _dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again: nothing listens there


def test_a_study_end_is_posted_as_json_slack_can_show(webhook) -> None:
    hook = webhook()
    message = notify.study_ended(
        sweep="quickstart",
        location="s3://bucket/sweeps/quickstart",
        done=["intermediate-toy_nli", "target-toy_nli-toy_order"],
        failed={"target-none-toy_order": "every trial errored: ModelError: cannot load its weights\n  (traceback)"},
        elapsed_s=192.4,
    )
    assert notify.post(hook.url, message) is None
    [sent] = hook.posts
    assert sent["path"] == "/services/T0/B0/secret"
    assert sent["headers"]["Content-Type"] == "application/json; charset=utf-8"
    assert sent["body"] == {
        "text": "xstilts sweep `quickstart`: finished, 2 searches done, 1 failed, in 3m12s — sweep query "
        "s3://bucket/sweeps/quickstart --pivot\n"
        "• `target-none-toy_order`: every trial errored: ModelError: cannot load its weights (traceback)",
        "sweep": "quickstart",
        "event": "study_ended",
        "location": "s3://bucket/sweeps/quickstart",
        "searches_done": 2,
        "searches_failed": 1,
        "done": ["intermediate-toy_nli", "target-toy_nli-toy_order"],
        "failed": [
            {
                "search": "target-none-toy_order",
                "reason": "every trial errored: ModelError: cannot load its weights\n  (traceback)",
            }
        ],
        "elapsed_s": 192.4,
    }


def test_a_failed_search_is_posted(webhook) -> None:
    hook = webhook()
    message = notify.search_failed(sweep="xstilts-1", search="intermediate-mnli", reason="no trial completed")
    assert notify.post(hook.url, message) is None
    assert hook.posts[0]["body"] == {
        "text": "xstilts sweep `xstilts-1`: search `intermediate-mnli` failed: no trial completed",
        "sweep": "xstilts-1",
        "event": "search_failed",
        "search": "intermediate-mnli",
        "searches_failed": 1,
        "failed": [{"search": "intermediate-mnli", "reason": "no trial completed"}],
    }


def test_two_server_errors_then_success_is_retried(webhook) -> None:
    hook = webhook([500, 503])
    started = time.monotonic()
    assert notify.post(hook.url, {"text": "hi"}, backoff_s=0.05) is None
    assert len(hook.posts) == 3 and all(p["body"] == {"text": "hi"} for p in hook.posts)
    assert time.monotonic() - started >= 0.05 + 0.1  # waited, doubling


def test_server_errors_past_the_retries_are_one_line_without_the_secret(webhook) -> None:
    hook = webhook([500, 502, 500, 200])
    trouble = notify.post(hook.url, {"text": "hi"}, backoff_s=0.01)
    port = hook.server.server_port
    assert trouble == (
        f"webhook http://127.0.0.1:{port}/… not told (HTTP 500 Internal Server Error after 3 attempts); "
        "the study goes on"
    )
    assert len(hook.posts) == 3


def test_a_client_error_is_not_retried(webhook) -> None:
    hook = webhook([404])
    trouble = notify.post(hook.url, {"text": "hi"}, backoff_s=0.01)
    assert trouble is not None and "HTTP 404 Not Found); the study goes on" in trouble
    assert len(hook.posts) == 1


def test_retry_after_is_honoured_within_the_budget(webhook) -> None:
    hook = webhook([429], headers={"Retry-After": "0.2"})
    started = time.monotonic()
    assert notify.post(hook.url, {"text": "hi"}, backoff_s=0.01) is None
    assert time.monotonic() - started >= 0.2 and len(hook.posts) == 2
    # One that asks for longer than the call may take ends it at once.
    hook = webhook([429], headers={"Retry-After": "30"})
    started = time.monotonic()
    assert "HTTP 429 Too Many Requests" in notify.post(hook.url, {"text": "hi"}, timeout_s=2)
    assert time.monotonic() - started < 1 and len(hook.posts) == 1


def test_a_dead_port_returns_the_failure_fast_and_never_raises() -> None:
    url = f"http://127.0.0.1:{_dead_port()}/hook"
    started = time.monotonic()
    trouble = notify.post(url, notify.search_failed(sweep="s", search="a", reason="r"))
    took = time.monotonic() - started
    assert trouble is not None and trouble.startswith(f"webhook {url.removesuffix('hook')}… not told (")
    assert "Connection refused" in trouble and "after 3 attempts" in trouble and "\n" not in trouble
    assert took < 3, f"{took:.1f} s: retries of a refused connection must stay short (0.5 s, then 1 s)"


def test_a_server_that_never_answers_costs_timeout_s_at_most() -> None:
    with socket.socket() as silent:  # accepts connections (the kernel does), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/hook"
        started = time.monotonic()
        trouble = notify.post(url, {"text": "hi"}, timeout_s=1.0)
        took = time.monotonic() - started
    assert trouble is not None and "timed out" in trouble
    assert took < 1.5, f"{took:.1f} s for a budget of 1 s"


@pytest.mark.parametrize(
    "url",
    [
        "",
        "hooks.slack.com/services/T/B/X",
        "ftp://example.com/hook",
        "file:///etc/passwd",
        "https://",
        "http://h:99999/",
    ],
)
def test_what_is_no_webhook_is_refused_before_sending_and_by_validation(url: str) -> None:
    [problem] = notify.url_problems(url)
    assert problem.startswith("notify.webhook ") and "https://hooks.slack.com/services/" in problem
    if url:
        assert f"`{url}`" in problem
    trouble = notify.post(url, {"text": "hi"})
    assert trouble == f"webhook not told: {problem}"


def test_the_problems_name_the_value_and_the_fix() -> None:
    assert notify.url_problems("ftp://example.com/hook") == [
        "notify.webhook `ftp://example.com/hook` is no http(s) URL (its scheme is `ftp`); write it whole, e.g. "
        "https://hooks.slack.com/services/T000/B000/XXXX (or leave notify.webhook out)"
    ]
    assert notify.url_problems(" https://example.com/hook")[0].startswith("notify.webhook ` https://example.com/hook`")
    assert notify.url_problems(None) == [
        "notify.webhook is None; write it whole, e.g. https://hooks.slack.com/services/T000/B000/XXXX "
        "(or leave notify.webhook out)"
    ]
    assert notify.url_problems("https://hooks.slack.com/services/T0/B0/XYZ") == []
    assert notify.url_problems("HTTP://127.0.0.1:8080/hook") == []


def test_a_message_that_is_no_json_is_still_sent_or_reported(webhook) -> None:
    hook = webhook()
    assert notify.post(hook.url, {"text": "hi", "when": object}) is None  # str() of what JSON cannot hold
    assert hook.posts[0]["body"]["when"] == str(object)


def test_many_failures_are_listed_in_the_text_up_to_a_few() -> None:
    failed = {f"target-t{i}": "x" * 1000 for i in range(8)}
    message = notify.study_ended(sweep="s", location="/q", done=[], failed=failed, elapsed_s=7300)
    lines = message["text"].split("\n")
    assert lines[0] == "xstilts sweep `s`: finished, 0 searches done, 8 failed, in 2h01m — sweep query /q --pivot"
    assert len(lines) == 1 + notify.SHOWN_FAILURES + 1 and lines[-1] == "… and 3 more (sweep status /q)"
    assert all(len(line) < notify.REASON_CHARS + 30 for line in lines[1:])
    assert len(message["failed"]) == 8 and message["failed"][0]["reason"] == "x" * 1000


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45.4, "45s"), (192, "3m12s"), (3720, "1h02m"), (97200, "1d03h")]
)
def test_durations(seconds: float, text: str) -> None:
    assert notify.duration(seconds) == text
