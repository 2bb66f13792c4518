"""Texts for the page: errors without class names, a job's state said once."""

from __future__ import annotations

import html
import re
from typing import Any

#: ``SomeError: `` at the start of a stored error (a worker's ``type: message``)
_CLASS_PREFIX = re.compile(r"^\s*(?:[A-Za-z_][\w.]*\.)?[A-Z]\w*(?:Error|Exception|Exit)\b:\s*")


def plain_error(text: str | None) -> str:
    """An error for the page: without a leading exception class name (``FitError: ...``)."""
    text = (text or "").strip()
    if not text:
        return "no reason was given"
    return _CLASS_PREFIX.sub("", text).strip() or text


def job_state_html(job: Any) -> str:
    """A job's status in bold and its message, the message left out when it only says
    the status again ("done done", "queued queued")."""
    status = job.status.value
    message = (job.message or "").strip()
    said = f" {html.escape(message)}" if message and message != status else ""
    return f"<b>{html.escape(status)}</b>{said}"
