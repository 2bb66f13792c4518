"""``shiftdesk catalog ...``: the reference-file catalog from a shell.

Each command opens the catalog as the notebook API does (on a hub, changes go through
the gate for the verified user) and prints plain text; ``--json`` where an answer is
data. A problem is one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shiftdesk.cli import Command, clear_errors
from shiftdesk.errors import CatalogError

if TYPE_CHECKING:
    from shiftdesk.catalog.catalog import Catalog
    from shiftdesk.catalog.submission import Submission


def _open(observatory: str) -> Catalog:
    from shiftdesk.catalog.catalog import Catalog

    return Catalog.open(observatory)


def _names(values: Sequence[str]) -> list[str]:
    """Names given as separate words or comma separated."""
    return [n for v in values for n in v.split(",") if n.strip()]


# -- the commands -------------------------------------------------------------------------


@clear_errors
def _list(_args: argparse.Namespace) -> int:
    from shiftdesk.catalog.catalog import Catalog

    for observatory in Catalog.list():
        print(observatory)
    return 0


@clear_errors
def _create(args: argparse.Namespace) -> int:
    from shiftdesk.catalog.catalog import Catalog

    cat = Catalog.create(
        args.observatory, description=args.description or "", editors=_names(args.editors or [])
    )
    print(f"created the {cat.observatory} catalog: files in {cat.folder}")
    return 0


@clear_errors
def _import(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    added = cat.add_files(args.paths, why=args.why or "imported", state=args.state)
    for name in added:
        print(name)
    print(f"{len(added)} files added to the {cat.observatory} catalog")
    return 0


@clear_errors
def _contexts(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    pointers = cat.contexts()
    if not pointers:
        print("no context set yet")
    for kind, pmap in pointers.items():
        print(f"{kind}: {pmap}")
    history = cat.context_history(None if args.kind == "all" else args.kind, limit=args.limit)
    if history:
        print("\nhistory (newest first):")
        print(history)
    return 0


@clear_errors
def _set_context(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    cat.set_context(args.kind, args.pmap, why=args.why)
    print(f"{args.kind}: {args.pmap}")
    return 0


def _header(pairs: Sequence[str]) -> dict[str, Any]:
    header: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise CatalogError(
                f"--header takes KEY=VALUE, not {pair!r} (e.g. ROMAN.META.INSTRUMENT.NAME=WFI)"
            )
        header[key.strip()] = value.strip()
    return header


@clear_errors
def _bestrefs(args: argparse.Namespace) -> int:
    from shiftdesk.catalog.headers import read_header

    if bool(args.header) == bool(args.file):
        raise CatalogError(
            "give the exposure's header as --header KEY=VALUE ... or --file a FITS or ASDF "
            "file (one of them)"
        )
    header = _header(args.header) if args.header else read_header(args.file)
    cat = _open(args.observatory)
    types = _names(args.types) if args.types else None
    answer = cat.best_references(
        header,
        context=args.context,
        reftypes=types,
        allow_bad_rules=args.allow_bad_rules,
        allow_bad_references=args.allow_bad_references,
    )
    if args.json:
        print(json.dumps(answer, indent=1, sort_keys=True))
    else:
        width = max((len(k) for k in answer), default=0)
        for kind, name in sorted(answer.items()):
            print(f"{kind:<{width}}  {name}")
    return 0


@clear_errors
def _mark_bad(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    names = _names(args.names)
    tainted = cat.mark_bad(names, why=args.why)
    print(f"marked bad: {', '.join(names)}")
    others = [n for n in tainted if n not in names]
    if others:
        print(f"blacklisted (they use it): {', '.join(others)}")
    return 0


@clear_errors
def _bad(args: argparse.Namespace) -> int:
    for name in _open(args.observatory).bad_files():
        print(name)
    return 0


@clear_errors
def _uses(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    cat.file(args.name)  # a name the catalog lacks is an error, not an empty answer
    for name in cat.uses(args.name):
        print(name)
    return 0


def _show_submission(sub: Submission, *, diffs: bool) -> None:
    print(f"submission {sub.id[:8]}: derived from {sub.derived_context}")
    print("files:")
    for f in sub.files:
        print(f"  {f['uploaded_as']} -> {f['name']} ({f['reftype']}, into {f['rmap']}, "
              f"use after {f['useafter']})")  # fmt: skip
    print("new mappings:")
    for name in sub.new_mappings:
        print(f"  {name}")
    print("collisions:" + ("" if sub.collisions else " none"))
    for text in sub.collisions:
        print(f"  {text}")
    print("checks:")
    for check in sub.checks:
        print(f"  {check}")
    if diffs:
        for name, diff in sub.diffs.items():
            print(f"\n{name} (from {diff['derived_from']}):\n{diff['text']}")


def _ask(question: str) -> bool:
    try:
        answer = input(question)
    except EOFError:  # no terminal (a script without --yes): the safe answer
        print()
        return False
    return answer.strip().lower() in ("y", "yes")


@clear_errors
def _submit(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    sub = cat.submit(
        args.files, derive_from=args.derive_from, description=args.description,
        timeout=args.timeout,
    )  # fmt: skip
    if sub.status != "done":
        for check in sub.checks:
            if check.level != "ok":
                print(f"  {check}", file=sys.stderr)
        raise CatalogError(
            f"submission {sub.id[:8]} {sub.status}: {sub.error or sub.message}"
            if sub.status == "failed"
            else f"submission {sub.id[:8]} is {sub.status} still; look again in the dashboard"
        )
    _show_submission(sub, diffs=args.diffs)
    if not (args.yes or _ask(f"confirm submission {sub.id[:8]}? [y/N] ")):
        sub.cancel()
        print(f"cancelled submission {sub.id[:8]}: nothing was delivered")
        return 1
    delivered = sub.confirm()
    print(f"confirmed: {len(delivered)} files delivered; {sub.new_context} is the edit context")
    latest = cat.deliveries(limit=1)
    if latest and latest[0].submission == sub.id:
        print(f"sent to the archive pipeline as {latest[0].handle}")
    return 0


@clear_errors
def _export(args: argparse.Namespace) -> int:
    path = _open(args.observatory).export(args.path)
    print(f"wrote {path}")
    return 0


@clear_errors
def _check(args: argparse.Namespace) -> int:
    defects = _open(args.observatory).check_defects(verify_checksum=not args.quick)
    for defect in defects:
        print(defect)
    if defects:
        print(
            f"{len(defects)} defects; an administrator repairs them with cat.repair()",
            file=sys.stderr,
        )
        return 1
    print("no defects")
    return 0


@clear_errors
def _deliveries(args: argparse.Namespace) -> int:
    cat = _open(args.observatory)
    if args.poll:
        for d in cat.poll_deliveries():
            print(f"now {d.state}: {d.handle}")
    folder = cat.delivery_folder
    print(f"delivers to: {folder if folder is not None else 'nowhere (no folder set)'}")
    for d in cat.deliveries(limit=args.limit):
        print(f"{d.created_at:%Y-%m-%d %H:%M} {d}")
    return 0


def add_commands(parser: argparse.ArgumentParser) -> None:
    """``shiftdesk catalog list|create|import|contexts|set-context|bestrefs|mark-bad|bad|
    uses|submit|export|check|deliveries``."""
    sub = parser.add_subparsers(dest="catalog_command", required=True)

    def command(name: str, func: Command, help_: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_)
        p.set_defaults(func=func)
        return p

    command("list", _list, "the observatories that have a catalog")
    p = command("create", _create, "make an observatory's catalog")
    p.add_argument("observatory")
    p.add_argument("--description")
    p.add_argument("--editors", nargs="*", help="users who may change it (besides its group)")
    p = command("import", _import, "add mapping and reference files (a CRDS cache folder too)")
    p.add_argument("observatory")
    p.add_argument("paths", nargs="+")
    p.add_argument("--why", help="why they are imported (history and audit)")
    p.add_argument("--state", default="operational", help="their state (default operational)")
    p = command("contexts", _contexts, "the context pointers and their history")
    p.add_argument("observatory")
    p.add_argument("--kind", default="all", choices=["all", "latest", "edit", "build"])
    p.add_argument("--limit", type=int, default=20, help="the newest N changes")
    p = command("set-context", _set_context, "point latest, edit or build at a pmap")
    p.add_argument("observatory")
    p.add_argument("kind", choices=["latest", "edit", "build"])
    p.add_argument("pmap")
    p.add_argument("--why", required=True, help="the reason (the context history says it)")
    p = command("bestrefs", _bestrefs, "best references for an exposure header")
    p.add_argument("observatory")
    p.add_argument("--header", nargs="+", metavar="KEY=VALUE", help="the header's keys")
    p.add_argument("--file", help="read the header of a FITS or ASDF file")
    p.add_argument("--context", help="a pmap, or latest (default), edit, build")
    p.add_argument("--types", nargs="+", help="only these reference types")
    p.add_argument("--json", action="store_true", help="the answer as JSON")
    p.add_argument("--allow-bad-rules", action="store_true")
    p.add_argument("--allow-bad-references", action="store_true")
    p = command("mark-bad", _mark_bad, "reject files; blacklist what uses them")
    p.add_argument("observatory")
    p.add_argument("names", nargs="+")
    p.add_argument("--why", required=True)
    p = command("bad", _bad, "the rejected files (what clients refuse)")
    p.add_argument("observatory")
    p = command("uses", _uses, "the mappings that use a file, up to the pmaps")
    p.add_argument("observatory")
    p.add_argument("name")
    p = command("submit", _submit, "submit reference files: new rules, then confirm")
    p.add_argument("observatory")
    p.add_argument("files", nargs="+")
    p.add_argument("--description", required=True, help="what the files are and why")
    p.add_argument("--derive-from", default="edit", help="edit (default), latest or a pmap")
    p.add_argument("--yes", action="store_true", help="confirm without asking")
    p.add_argument("--diffs", action="store_true", help="print the rules' text diffs")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds to wait for checks")
    p = command("export", _export, "write the catalog as .sqlite or .parquet")
    p.add_argument("observatory")
    p.add_argument("path")
    p = command("check", _check, "look for defects (exit 1 if any)")
    p.add_argument("observatory")
    p.add_argument("--quick", action="store_true", help="sizes only, no checksums")
    p = command("deliveries", _deliveries, "deliveries to the archive pipeline")
    p.add_argument("observatory")
    p.add_argument("--poll", action="store_true", help="read the pipeline's states first")
    p.add_argument("--limit", type=int, default=20)
