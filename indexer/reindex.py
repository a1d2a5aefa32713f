"""Copy one store into another (`cyberlab reindex --to elasticsearch`).

Every version of every object is copied in its collection's date_added order, so subscribers of
the new store see the same history in the same order (with the new store's own date_added stamps).
Re-running is safe: what is already there is reported as a duplicate, not copied twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby

from indexer.store.base import SERVER, Keyset, NewObject, ObjectQuery, Store

BATCH = 2000


@dataclass
class CopyReport:
    objects: dict[str, int] = field(default_factory=dict)  # outcome -> count
    accounts: int = 0
    cursors: int = 0


def copy_store(
    source: Store,
    target: Store,
    collections: Iterable[str],
    cursor_names: Iterable[str] = (),
    progress: Callable[[int], None] = lambda n: None,
) -> CopyReport:
    report = CopyReport()
    for collection in collections:
        after: Keyset | None = None
        while True:
            page = source.query(ObjectQuery(collection, versions=("all",), after=after, limit=BATCH))
            if not page.objects:
                break
            batch = [
                NewObject(o.id, o.type, o.version, o.version_text, o.spec_version, o.body)
                for o in page.objects
            ]
            # Owners travel too (a partner's objects stay the partner's): runs of one owner, in order.
            owners = {i: source.object_owner(collection, i) or SERVER for i in {o.id for o in batch}}
            for owner, run in groupby(batch, key=lambda o: owners[o.id]):
                for outcome in target.add_objects(collection, list(run), owner=owner):
                    report.objects[outcome] = report.objects.get(outcome, 0) + 1
            progress(len(batch))
            if not page.more:
                break
            after = page.objects[-1].keyset
    known = {a.name for a in target.list_accounts()}
    for account in source.list_accounts():
        if account.name not in known:
            target.add_account(account)
            report.accounts += 1
    for name in cursor_names:
        value = source.get_cursor(name)
        if value is not None:
            target.save_cursor(name, value)
            report.cursors += 1
    return report
