"""A shared session's frames and results for its members on a hub: the owner's server
publishes them to the gate, members fetch copies into their own data folder, and the gate
gives nothing to anyone else. The gate here is the service without its socket
(tests/_loopback_gate.py: only JSON crosses, the identity is the one the hub would give);
the hub end to end is tests/e2e/test_boundary.py. Standalone (the gate in this process)
nothing is copied."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from tests._loopback_gate import LoopbackGate
from tests.datalab._frames import write_frame
from tests.datalab.test_session import ALICE, BOB, MALLORY, frames  # noqa: F401

from shiftdesk.datalab import DataSession, sharing
from shiftdesk.datalab.records import (
    DataSessionRecord,
    OperationRecord,
    ResultRecord,
    SessionInputRecord,
)
from shiftdesk.errors import NotFound, PermissionDenied
from shiftdesk.gate import LocalGate
from shiftdesk.identity import Identity
from shiftdesk.storage import data_dir, get_database
from shiftdesk.storage.models import AuditRecord

CAROL = Identity("carol")


@pytest.fixture
def gates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, LoopbackGate]:
    """Each user's way to the gate service; its folder of published files."""
    monkeypatch.setenv(sharing.ROOT_ENV, str(tmp_path / "gate-files"))
    return {w.name: LoopbackGate(w, {}) for w in (ALICE, BOB, MALLORY, CAROL)}


def _published() -> dict[str, bytes]:
    root = sharing.shared_root()
    return {p.name: p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _shared(paths: list[Path], gates: dict[str, LoopbackGate]) -> tuple[DataSession, Any]:
    """alice's session of three frames with a median done, shared with m51-team."""
    alice = DataSession.create("M51", identity=ALICE, gate=gates["alice"])
    alice.add_inputs(paths)
    op = alice.run("median", input_files=alice.inputs)
    op.result(timeout=120)
    assert gates["alice"].calls == []  # not shared yet: nothing leaves her folder
    alice.share(project="m51-team")
    return alice, op


def test_members_read_copies_of_the_frames_and_results_their_owner_published(
    frames: list[Path],  # noqa: F811
    gates: dict[str, LoopbackGate],
) -> None:
    alice, op = _shared(frames, gates)
    out = op.result()
    # sharing published every frame and output, each once, as its content
    published = _published()
    owned = {i.sha256: i.path.read_bytes() for i in alice.inputs}
    with get_database().session() as s:
        stored = s.get(ResultRecord, op._record.result_id)
        assert stored is not None
        hashes = json.loads(stored.hashes_json)
    assert set(published) == set(owned) | set(hashes.values())
    assert all(_sha(data) == sha for sha, data in published.items())
    assert alice.publish() == 0  # nothing missing any more

    seen = DataSession.open(alice.id, identity=BOB, gate=gates["bob"])
    copies = data_dir() / "datalab" / "bob" / "shared" / "alice"
    for mine, theirs in zip(alice.inputs, seen.inputs, strict=True):
        assert theirs.path != mine.path and copies in theirs.path.parents
        assert theirs.path.read_bytes() == mine.path.read_bytes()
        assert os.fspath(theirs) == str(theirs.path) and theirs.name == mine.name
    result = seen.operation(op.id).result()
    assert [p.name for p in result.files] == [p.name for p in out.files]
    assert [p.name for p in result.images] == [p.name for p in out.images]
    assert set(result.previews) == set(out.previews) and result.data == out.data
    for mine_path, their_path in zip(
        [*out.files, *out.images], [*result.files, *result.images], strict=True
    ):
        assert copies in their_path.parents
        assert their_path.read_bytes() == mine_path.read_bytes()
    assert {p.name for p in seen.operation(op.id).outputs} == {p.name for p in op.outputs}
    # read again: the copies are there, nothing is fetched twice
    fetched = gates["bob"].calls.count("datalab.fetch")
    assert fetched == len(published)
    again = DataSession.open(alice.id, identity=BOB, gate=gates["bob"])
    [i.path for i in again.inputs]
    again.operation(op.id).result()
    assert gates["bob"].calls.count("datalab.fetch") == fetched
    # alice reads her own files where they are
    assert alice.inputs[0].path.parent.parent.parent.name == "store"


def test_an_operation_that_ends_in_a_shared_session_is_published_when_its_owner_looks(
    frames: list[Path],  # noqa: F811
    gates: dict[str, LoopbackGate],
) -> None:
    alice, _ = _shared(frames, gates)
    seen = DataSession.open(alice.id, identity=BOB, gate=gates["bob"])

    # ended with nobody of alice's looking (its job settled it): not published yet
    quiet = alice.run("normalization", input_files=alice.inputs[:2])
    theirs = seen.operation(quiet.id)
    theirs.wait(120)
    assert theirs.status == "done"
    with pytest.raises(NotFound, match=r"not published yet.*ask them to open"):
        theirs.result(timeout=0.5)
    # her server opens the session: what is missing goes
    DataSession.open(alice.id, identity=ALICE, gate=gates["alice"])
    assert len(theirs.result(timeout=30).files) == 2

    # followed by her kernel: published as it ends (a member waits for it)
    stack = alice.run("stack", input_files=alice.inputs)
    stack.result(timeout=120)
    assert seen.operation(stack.id).result().files[0].is_file()

    # frames added to a shared session go at once
    extra = write_frame(frames[0].parent / "extra.fits", stars=[(30, 20, 700)], noise=2, seed=9)
    added = alice.add_inputs([extra])[0]
    copy = next(i for i in seen.inputs if i.sha256 == added.sha256)
    assert copy.path.read_bytes() == extra.read_bytes()


def _call(gate: LoopbackGate, action: str, **args: Any) -> Any:
    return gate.call(action, **args)


def test_the_gate_gives_nothing_to_a_non_member_nor_a_file_the_session_does_not_name(
    frames: list[Path],  # noqa: F811
    gates: dict[str, LoopbackGate],
    tmp_path: Path,
) -> None:
    alice, op = _shared(frames, gates)
    frame = alice.inputs[0]
    # a session of alice's she did not share: its files are hers alone
    private = DataSession.create("private", identity=ALICE, gate=gates["alice"])
    secret = write_frame(tmp_path / "secret.fits", stars=[(10, 10, 500)], noise=1, seed=42)
    hidden = private.add_inputs([secret])[0]
    private.share(project="other-team")  # published for its own members
    assert hidden.sha256 in _published()

    # mallory, a member of nothing, asks for a frame of alice's shared session
    with pytest.raises(PermissionDenied, match=r"not shared with 'mallory'.*not yours"):
        _call(gates["mallory"], "datalab.fetch", session=alice.id, sha256=frame.sha256)
    # bob, a member, asks through the session he reads for a file it does not name
    with pytest.raises(NotFound, match=f"names no file with SHA-256 {hidden.sha256}"):
        _call(gates["bob"], "datalab.fetch", session=alice.id, sha256=hidden.sha256)
    with pytest.raises(ValueError, match="not a SHA-256"):
        _call(gates["bob"], "datalab.fetch", session=alice.id, sha256="../../etc/passwd")
    with pytest.raises(NotFound, match="no data session 999"):
        _call(gates["bob"], "datalab.fetch", session=999, sha256=frame.sha256)

    # mallory puts alice's frame's hash in a session of her own: she gets her own
    # files only (none), never alice's
    hers = DataSession.create("mallory's", identity=MALLORY, gate=gates["mallory"])
    with get_database().session() as s:
        s.add(SessionInputRecord(session_id=hers.id, owner="mallory", name="stolen.fits",
                                 sha256=frame.sha256, size=frame.size, path=str(frame.path),
                                 header_json="{}", position=0))  # fmt: skip
        # ... and an operation of hers that says it made alice's result
        s.add(OperationRecord(session_id=hers.id, owner="mallory", operation="median",
                              version=op.version, cache_key=op.key, inputs_json="{}",
                              files_json="[]", status="done", progress=1.0, message="done",
                              cached=True, result_id=op._record.result_id))  # fmt: skip
        # ... and a row naming alice's session as hers
        s.add(SessionInputRecord(session_id=alice.id, owner="mallory", name="x.fits",
                                 sha256=hidden.sha256, size=hidden.size, path="/x",
                                 header_json="{}", position=9))  # fmt: skip
    with pytest.raises(NotFound, match="not published yet"):
        _call(gates["mallory"], "datalab.fetch", session=hers.id, sha256=frame.sha256)
    output_sha = next(iter(json.loads(_stored(op).hashes_json).values()))
    with pytest.raises(NotFound, match="names no file"):
        _call(gates["mallory"], "datalab.fetch", session=hers.id, sha256=output_sha)
    with pytest.raises(NotFound, match="names no file"):
        _call(gates["bob"], "datalab.fetch", session=alice.id, sha256=hidden.sha256)

    # publishing: only the owner, only the session's files, only the right bytes
    data = frame.path.read_bytes()
    piece = base64.b64encode(data).decode()
    args = {"session": alice.id, "sha256": frame.sha256, "size": len(data), "offset": 0}
    with pytest.raises(
        PermissionDenied,
        match=r"session \d+ is not yours \('mallory'\); only its owner may publish",
    ):
        _call(gates["mallory"], "datalab.publish", data=piece, **args)
    with pytest.raises(PermissionDenied, match="only its owner may publish"):
        _call(gates["bob"], "datalab.publish", data=piece, **args)
    with pytest.raises(PermissionDenied, match="only its owner may publish"):
        _call(gates["mallory"], "datalab.missing", session=alice.id)
    forged = b"not the frame" + data[13:]
    other_sha = _sha(forged)
    with pytest.raises(NotFound, match=f"names no file with SHA-256 {other_sha}"):
        _call(gates["alice"], "datalab.publish", data=base64.b64encode(forged).decode(),
              **{**args, "sha256": other_sha})  # fmt: skip
    before = _published()
    fresh = DataSession.create("fresh", identity=ALICE, gate=gates["alice"])
    fresh.add_inputs([write_frame(tmp_path / "new.fits", stars=[(5, 5, 300)], seed=5)])
    new_sha = fresh.inputs[0].sha256
    assert new_sha not in before
    size = fresh.inputs[0].size
    wrong = base64.b64encode(forged[:size].ljust(size, b"\0")).decode()
    with pytest.raises(sharing.SharingError, match="hash to"):
        _call(gates["alice"], "datalab.publish", session=fresh.id, sha256=new_sha, size=size,
              offset=0, data=wrong)  # fmt: skip
    with pytest.raises(sharing.SharingError, match="by the records"):
        _call(gates["alice"], "datalab.publish", session=fresh.id, sha256=new_sha,
              size=size + 1, offset=0, data="")  # fmt: skip
    with pytest.raises(sharing.SharingError, match="send from 0"):
        _call(gates["alice"], "datalab.publish", session=fresh.id, sha256=new_sha, size=size,
              offset=2880, data=base64.b64encode(b"x" * 10).decode())  # fmt: skip
    assert _published() == before  # nothing of it was kept
    # the refusals are in the audit trail, as the verified caller's
    with get_database().session() as s:
        refused = {
            (r.actor, r.action)
            for r in s.scalars(select(AuditRecord).where(AuditRecord.outcome == "refused"))
        }
    assert ("mallory", "datalab.fetch") in refused and ("mallory", "datalab.publish") in refused
    assert ("bob", "datalab.fetch") in refused and ("alice", "datalab.publish") in refused


def _stored(op: Any) -> ResultRecord:
    with get_database().session() as s:
        stored = s.get(ResultRecord, op._record.result_id)
        assert stored is not None
        s.expunge(stored)
        return stored


def test_an_owners_names_cannot_steer_a_members_copies_out_of_their_folder(
    frames: list[Path],  # noqa: F811
    gates: dict[str, LoopbackGate],
) -> None:
    alice, op = _shared(frames, gates)
    with get_database().session() as s:
        row = s.scalars(
            select(SessionInputRecord).where(SessionInputRecord.session_id == alice.id)
        ).first()
        assert row is not None
        row.name = "../../../../escaped.fits"
        stored = s.get(ResultRecord, op._record.result_id)
        assert stored is not None
        hashes = json.loads(stored.hashes_json)
        first = next(iter(hashes))
        hashes["../../outside.fits"] = hashes[first]
        stored.hashes_json = json.dumps(hashes)
        value = json.loads(stored.result_json)
        value["files"].append("../../outside.fits")
        stored.result_json = json.dumps(value)
    seen = DataSession.open(alice.id, identity=BOB, gate=gates["bob"])
    copies = data_dir() / "datalab" / "bob" / "shared" / "alice"
    escaped = next(i for i in seen.inputs if i.name.startswith(".."))
    assert copies in escaped.path.parents and escaped.path.name == escaped.sha256
    result = seen.operation(op.id).result()
    assert all(copies in p.parents for p in [*result.files, *result.images])
    assert "outside.fits" not in {p.name for p in result.files}
    assert not list(data_dir().rglob("escaped.fits")) and not list(data_dir().rglob("outside.fits"))


def test_standalone_nothing_is_copied(frames: list[Path]) -> None:  # noqa: F811
    """The gate in this process (no hub): members read the owner's files where they are."""
    local = LocalGate(BOB)
    alice = DataSession.create("M51", identity=ALICE, gate=LocalGate(ALICE))
    alice.add_inputs(frames[:2])
    op = alice.run("median", input_files=alice.inputs)
    out = op.result(timeout=120)
    alice.share("bob")
    assert alice.publish() == 0 and not sharing.shared_root().exists()
    seen = DataSession.open(alice.id, identity=BOB, gate=local)
    assert [i.path for i in seen.inputs] == [i.path for i in alice.inputs]
    assert seen.operation(op.id).result().files == out.files
    assert not (data_dir() / "datalab" / "bob").exists()
    with get_database().session() as s:
        assert s.get(DataSessionRecord, alice.id) is not None
