"""The catalog panels over plain data and callbacks (no catalog, no database)."""

from __future__ import annotations

import re
from datetime import date
from html import unescape
from typing import Any

import pandas as pd
import pytest

from shiftdesk_widgets.catalog.audit import AuditPanel, LocksPanel
from shiftdesk_widgets.catalog.bestrefs import BestRefsPanel, parse_header, result_html
from shiftdesk_widgets.catalog.browse import BrowsePanel, header_text, row_text
from shiftdesk_widgets.catalog.contexts import (
    ContextCards,
    ContextsPanel,
    HistoryRow,
    MappingDiff,
    Pointer,
)
from shiftdesk_widgets.catalog.markbad import MarkBadForm, split_names
from shiftdesk_widgets.catalog.submit import NOT_YET, SubmitPanel


def text(value: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", value))).strip()


def files(n: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "name": [f"roman_wfi_flat_{i:04d}.asdf" for i in range(1, n + 1)],
            "state": ["operational"] * n,
            "instrument": ["WFI"] * n,
            "filekind": ["FLAT"] * n,
            "rejected": [i == 3 for i in range(1, n + 1)],
            "blacklisted": [i == 3 for i in range(1, n + 1)],
            "added": pd.to_datetime(["2026-01-02"] * n, utc=True),
        }
    )


class FakeBrowse:
    def __init__(self, n: int = 250) -> None:
        self.frame = files(n)
        self.calls: list[tuple[dict[str, Any], int, int]] = []

    def __call__(self, filters: dict[str, Any], offset: int, limit: int) -> pd.DataFrame:
        self.calls.append((filters, offset, limit))
        frame = self.frame
        if filters.get("bad"):
            frame = frame[frame["rejected"]]
        if "search" in filters:
            frame = frame[frame["name"].str.contains(filters["search"])]
        return frame.iloc[offset : offset + limit]


def choices() -> dict[str, list[str]]:
    return {"instrument": ["WFI"], "filekind": ["DARK", "FLAT"], "state": ["operational"]}


def test_browse_pages_a_hundred_rows_at_a_time() -> None:
    fake = FakeBrowse()
    panel = BrowsePanel(fake, choices)
    assert len(panel.names) == 100 and panel.names[0] == "roman_wfi_flat_0001.asdf"
    assert fake.calls[-1] == ({}, 0, 101)  # one more than a page says there is a next
    assert "files 1–100 and more" in panel.summary.value
    assert panel.prev_button.disabled and not panel.next_button.disabled
    panel.next_button.click()
    panel.next_button.click()
    assert panel.names[0] == "roman_wfi_flat_0201.asdf" and len(panel.names) == 50
    assert "files 201–250" in panel.summary.value and panel.next_button.disabled
    panel.prev_button.click()
    assert panel.offset == 100


def test_browse_filters_go_to_the_query_and_back_to_page_one() -> None:
    fake = FakeBrowse()
    panel = BrowsePanel(fake, choices)
    panel.next_button.click()
    assert panel.filekind.options == ("any", "DARK", "FLAT")
    panel.filekind.value = "FLAT"
    assert fake.calls[-1] == ({"filekind": "FLAT"}, 0, 101)
    panel.bad_only.value = True
    assert panel.names == ["roman_wfi_flat_0003.asdf"]
    assert "rejected" in panel.list.options[0][0]
    panel.since.value = date(2026, 1, 1)
    assert fake.calls[-1][0]["since"] == date(2026, 1, 1)
    panel.until.value = date(2025, 1, 1)  # before "from": said, not queried
    assert "after the 'to' date" in panel.feedback.text
    panel.clear_button.click()
    assert fake.calls[-1] == ({}, 0, 101) and panel.until.value is None
    panel.search.value = "0042"
    assert panel.names == ["roman_wfi_flat_0042.asdf"]
    assert "no file matches" not in panel.summary.value
    panel.search.value = "nothing like it"
    assert panel.summary.value == "no file matches these filters"


def test_browse_says_a_failed_query_beside_the_pager() -> None:
    def broken(filters: dict[str, Any], offset: int, limit: int) -> pd.DataFrame:
        raise RuntimeError("CatalogError: the database is locked")

    panel = BrowsePanel(broken, choices)
    assert panel.feedback.kind == "error"
    assert panel.feedback.text == "files not read: the database is locked"


def test_browse_rows_line_up_under_the_header() -> None:
    row = files(1).to_dict("records")[0]
    line = row_text(row)
    assert line.startswith("roman_wfi_flat_0001.asdf")
    assert line.index("operational") == header_text().index("state")
    assert line.index("2026-01-02") == header_text().index("added")


def test_picking_a_row_sets_selected() -> None:
    panel = BrowsePanel(FakeBrowse(5), choices)
    seen: list[str] = []
    panel.observe(lambda c: seen.append(c["new"]), "selected")
    panel.list.value = "roman_wfi_flat_0002.asdf"
    assert panel.selected == "roman_wfi_flat_0002.asdf" and seen == [panel.selected]


def test_headers_typed_as_key_value_lines() -> None:
    header = parse_header("# a comment\nroman.meta.instrument.name = WFI\nDETECTOR: 'WFI01'\n\n")
    assert header == {"ROMAN.META.INSTRUMENT.NAME": "WFI", "DETECTOR": "WFI01"}
    with pytest.raises(ValueError, match="line 2"):
        parse_header("A = 1\njust words")


def test_best_references_panel_shows_found_and_not_found() -> None:
    asked: list[tuple[dict[str, Any], str, Any]] = []

    def lookup(header: dict[str, Any], context: str, types: Any) -> dict[str, str]:
        asked.append((header, context, types))
        return {"dark": "roman_wfi_dark_0001.asdf", "flat": "NOT FOUND No match found."}

    panel = BestRefsPanel(lookup, lambda _p: {}, lambda: ["roman_0002.pmap", "roman_0001.pmap"])
    assert [v for _l, v in panel.context.options] == [
        "latest", "edit", "roman_0002.pmap", "roman_0001.pmap",
    ]  # fmt: skip
    panel.button.click()
    assert panel.feedback.text == "type a header or read one from a file first"
    panel.header.value = "INSTRUME = WFI"
    panel.context.value = "roman_0001.pmap"
    panel.reftypes.value = "dark, flat"
    panel.button.click()
    assert asked == [({"INSTRUME": "WFI"}, "roman_0001.pmap", ["dark", "flat"])]
    shown = text(panel.output.value)
    assert "roman_wfi_dark_0001.asdf" in shown and "not found: No match found." in shown
    assert panel.feedback.text == "1 of 2 types found"


def test_best_references_refusal_is_said_beside_the_button() -> None:
    def lookup(header: dict[str, Any], context: str, types: Any) -> dict[str, str]:
        raise ValueError("CatalogError: context roman_0001.pmap contains rules marked bad")

    panel = BestRefsPanel(lookup, lambda _p: {}, list)
    panel.header.value = "A = 1"
    panel.button.click()
    assert panel.feedback.kind == "error"
    assert panel.feedback.text == "no answer: context roman_0001.pmap contains rules marked bad"
    assert not panel.button.disabled


def test_result_table_lists_types_in_order() -> None:
    out = text(result_html({"flat": "x.asdf", "dark": "NOT FOUND n/a"}))
    assert out.index("dark") < out.index("flat")


def test_context_cards_say_since_who_and_why() -> None:
    cards = ContextCards()
    cards.show([Pointer("latest", "roman_0002.pmap", pd.Timestamp("2025-06-02 14:30", tz="UTC"),
                        "alice", "new F158 flats")])  # fmt: skip
    shown = text(cards.cards["latest"].value)
    assert "roman_0002.pmap" in shown and "since 2025-06-02 14:30 UTC" in shown
    assert "by alice" in shown and "new F158 flats" in shown


def test_contexts_panel_history_and_diff() -> None:
    rows = [
        HistoryRow(pd.Timestamp("2025-01-10", tz="UTC"), "roman_0001.pmap", "alice", "first"),
        HistoryRow(pd.Timestamp("2025-06-02", tz="UTC"), "roman_0002.pmap", "bob", "flats"),
        ("2026-01-01", "roman_0003.pmap", "bob", "darks", "edit"),
    ]
    asked: list[tuple[str, str]] = []

    def diff(old: str, new: str) -> list[MappingDiff]:
        asked.append((old, new))
        return [
            MappingDiff("roman_wfi_dark_0001.rmap", "roman_wfi_dark_0002.rmap",
                        "--- a\n+++ b\n@@ -1 +1 @@\n-old\n+new\n",
                        [("added", "WFI01 · 2026-01-01", "", "roman_wfi_dark_0004.asdf")])
        ]  # fmt: skip

    panel = ContextsPanel(lambda: rows, lambda: ["roman_0003.pmap", "roman_0002.pmap"], diff)
    history = text(panel.history_html.value)
    assert history.index("roman_0003.pmap") < history.index("roman_0001.pmap")  # newest first
    # the default pair: what the latest context would become with the newest one
    assert (panel.old.value, panel.new.value) == ("roman_0002.pmap", "roman_0003.pmap")
    panel.diff_button.click()
    assert asked == [("roman_0002.pmap", "roman_0003.pmap")]
    assert "1 mapping differ" in panel.feedback.text
    assert (
        "sd-cat-add" in panel.diff_view.value
        and "roman_wfi_dark_0004.asdf" in panel.diff_view.value
    )
    panel.new.value = "roman_0002.pmap"
    panel.diff_button.click()
    assert "pick two different contexts" in panel.feedback.text


def test_mark_bad_needs_names_and_a_reason_and_shows_the_refusal() -> None:
    marked: list[tuple[list[str], str]] = []

    def mark(names: list[str], why: str) -> list[str]:
        if "in_use.asdf" in names:
            raise ValueError("CatalogError: in_use.asdf is used by the latest context")
        marked.append((names, why))
        return names

    form = MarkBadForm(mark)
    form.button.click()
    assert form.feedback.text == "name the files to mark bad first"
    form.names_box.value = "a.asdf, b.asdf\nc.asdf"
    form.button.click()
    assert "say why" in form.feedback.text and not marked
    form.why.value = "wrong flat"
    form.button.click()
    assert marked == [(["a.asdf", "b.asdf", "c.asdf"], "wrong flat")]
    assert form.feedback.kind == "info" and "marked bad" in form.feedback.text
    form.names_box.value = "in_use.asdf"
    form.why.value = "bad"
    form.button.click()
    assert form.feedback.kind == "error"
    assert form.feedback.text == (
        "in_use.asdf not marked bad: in_use.asdf is used by the latest context"
    )
    assert split_names(" x  y,z;") == ["x", "y", "z"]


def test_mark_bad_read_only_says_who_may() -> None:
    form = MarkBadForm(lambda n, w: n, can_edit=False, who_may="members of the group 'cal'")
    assert form.button.disabled
    assert form.feedback.text == "only members of the group 'cal' may mark files bad"


def test_submit_panel_without_submissions_says_so() -> None:
    panel = SubmitPanel(None, lambda: ["roman_0003.pmap"])
    assert panel.feedback.text == NOT_YET
    assert panel.submit_button.disabled and panel.upload.disabled
    panel.start()
    assert panel.feedback.text == NOT_YET


def upload(name: str, content: bytes) -> dict[str, Any]:
    """One file as a FileUpload's value holds it (ipywidgets 8)."""
    from datetime import UTC, datetime

    return {"name": name, "type": "", "size": len(content), "content": memoryview(content),
            "last_modified": datetime.now(UTC)}  # fmt: skip


class FakeSubmission:
    def __init__(self) -> None:
        self.files = [("flat_new.asdf", "roman_wfi_flat_0031.asdf")]
        self.new_mappings = ["roman_wfi_flat_0003.rmap", "roman_wfi_0004.imap", "roman_0004.pmap"]
        self.diffs = {"roman_wfi_flat_0002.rmap -> roman_wfi_flat_0003.rmap": (
            "--- a\n+++ b\n+x\n",
            [{"change": "added", "path": (("WFI01", "F158"), "2026-02-01 00:00:00"), "old": None,
              "new": "roman_wfi_flat_0031.asdf"}])}  # fmt: skip
        self.collisions = ["roman_wfi_flat_0002.rmap is also the base of a pending submission"]
        self.checks = [("roman_wfi_flat_0031.asdf", "warning", "no PEDIGREE")]
        self.done = ""

    def confirm(self) -> None:
        self.done = "confirmed"

    def cancel(self) -> None:
        self.done = "cancelled"


def test_submit_wizard_shows_results_then_confirms(tmp_path: Any) -> None:
    sub = FakeSubmission()
    calls: list[tuple[list[Any], str, str]] = []

    def submit(paths: list[Any], derive: str, description: str) -> FakeSubmission:
        calls.append((paths, derive, description))
        return sub

    done: list[str] = []
    panel = SubmitPanel(submit, lambda: ["roman_0003.pmap"], on_done=done.append)
    panel.submit_button.click()
    assert panel.feedback.text == "pick the reference files to submit first"
    panel.upload.value = (upload("flat_new.asdf", b"abc"),)
    assert "flat_new.asdf" in panel.picked.value
    panel.submit_button.click()
    assert "describe the files" in panel.feedback.text
    panel.description.value = "2026 flats"
    panel.submit_button.click()
    ((paths, derive, description),) = calls
    assert [p.name for p in paths] == ["flat_new.asdf"] and paths[0].read_bytes() == b"abc"
    assert (derive, description) == ("edit", "2026 flats")
    shown = text(panel.result.value)
    for part in ("roman_wfi_flat_0031.asdf", "roman_0004.pmap", "pending submission",
                 "no PEDIGREE", "WFI01, F158 · 2026-02-01 00:00:00"):  # fmt: skip
        assert part in shown, part
    assert "new context roman_0004.pmap" in panel.feedback.text
    assert panel.decide.layout.display is None
    panel.submit_button.click()  # a second one before deciding
    assert "confirm or cancel the submission shown first" in panel.feedback.text
    panel.confirm_button.click()
    assert sub.done == "confirmed" and done == ["ready", "confirm"]
    assert "roman_0004.pmap is the edit context" in panel.feedback.text
    assert not paths[0].exists()  # the uploaded copies are gone
    assert panel.decide.layout.display == "none"


def test_submit_cancel_and_a_refused_confirm() -> None:
    sub = FakeSubmission()

    def refuse() -> None:
        raise PermissionError("CatalogError: your lock on WFI lapsed at 10:00; submit again")

    sub.confirm = refuse  # type: ignore[method-assign]
    panel = SubmitPanel(lambda p, d, s: sub, list)
    panel.start([])
    panel.confirm_button.click()
    assert panel.decide_feedback.kind == "error"
    assert (
        panel.decide_feedback.text
        == "not confirmed: your lock on WFI lapsed at 10:00; submit again"
    )
    panel.cancel_button.click()
    assert sub.done == "cancelled" and panel.submission is None
    assert panel.feedback.text == "cancelled: nothing was added to the catalog"


def test_locks_and_audit_panels() -> None:
    from datetime import UTC, datetime, timedelta

    now = datetime.now(UTC)
    lock = {"instrument": "WFI", "holder": "bob", "acquired_at": now,
            "expires_at": now + timedelta(minutes=30)}  # fmt: skip
    panel = LocksPanel(lambda: [lock])
    assert "bob" in text(panel.listing.value) and "min left" in text(panel.listing.value)
    assert "no lock is held" in LocksPanel(list).listing.value
    asked: list[Any] = []

    def entries(limit: int, action: str | None, actor: str | None) -> list[dict[str, Any]]:
        asked.append((limit, action, actor))
        return [{"at": now, "actor": "alice", "action": "catalog.reject", "target": "roman x",
                 "outcome": "ok", "detail": "wrong"}]  # fmt: skip

    audit = AuditPanel(entries)
    assert asked == [(50, "catalog.", None)] and "catalog.reject" in audit.listing.value
    audit.actor.value = "alice"
    assert asked[-1] == (50, "catalog.", "alice")


class SlowSubmission(FakeSubmission):
    """A handle returned before its preparation is done (``wait=False``)."""

    def __init__(self, fail: str = "") -> None:
        super().__init__()
        self.steps = 0
        self.fail = fail
        self.status = "running"
        self.error: str | None = None
        self.progress = 0.0
        self.message = "reading headers"

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed")

    def refresh(self) -> SlowSubmission:
        self.steps += 1
        self.progress = self.steps / 3
        self.message = f"step {self.steps} of 3"
        if self.steps >= 3:
            self.status = "failed" if self.fail else "done"
            self.error = self.fail or None
        return self


def test_submit_follows_the_progress_of_a_submission_being_prepared() -> None:
    sub = SlowSubmission()
    panel = SubmitPanel(lambda p, d, s: sub, list)
    panel.start([])
    assert panel.submission is sub and panel.decide.layout.display == "none"
    assert panel.poll() is True
    assert panel.feedback.text == "step 1 of 3" and panel.progress.value == pytest.approx(1 / 3)
    panel.wait(5)
    assert "ready" in panel.feedback.text and panel.decide.layout.display is None


def test_a_failed_preparation_is_said_without_decisions() -> None:
    sub = SlowSubmission(fail="CatalogError: flat_new.asdf: the header has no USEAFTER")
    panel = SubmitPanel(lambda p, d, s: sub, list)
    panel.start([])
    panel.wait(5)
    assert panel.feedback.kind == "error"
    assert panel.feedback.text == "not ready: flat_new.asdf: the header has no USEAFTER"
    assert panel.submission is None and panel.decide.layout.display == "none"
    assert not panel.submit_button.disabled
