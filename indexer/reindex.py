"""Copy one store into another (`cyberlab reindex --to elasticsearch`).

Every version of every object is copied in its collection's date_added order, so subscribers of
the new store see the same history in the same order (with the new store's own date_added stamps).
Re-running is safe: what is already there is reported as a duplicate, not copied twice.

Beside the objects, everything an operator would miss after switching backends travels too:
accounts, connector cursors, email digest subscriptions (with what was last mailed, translated
to the new store's date_added stamps), the "is this suspicious?" report queue, dead letters
awaiting a retry, and the ingest totals behind /metrics.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import groupby

from indexer.store.base import SERVER, DigestState, Keyset, NewObject, ObjectQuery, Store

BATCH = 2000


@dataclass
class CopyReport:
    objects: dict[str, int] = field(default_factory=dict)  # outcome -> count
    accounts: int = 0
    cursors: int = 0
    digests: int = 0
    check_reports: int = 0
    dead_letters: int = 0
    ingest_totals: int = 0  # connectors whose totals were copied


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
    _copy_operations(source, target, report)
    return report


def _copy_operations(source: Store, target: Store, report: CopyReport) -> None:
    """Digests, the report queue, dead letters and ingest totals; each skipped where the target
    has it already, so a second run adds nothing."""
    for subscription in source.list_digest_subscriptions():
        if target.get_digest_subscription(subscription.account) is None:
            target.save_digest_subscription(subscription)
            report.digests += 1
        state = source.get_digest_state(subscription.account)
        if state is not None and target.get_digest_state(subscription.account) is None:
            up_to = _translate_date_added(source, target, subscription.collections, state.up_to)
            target.save_digest_state(DigestState(state.account, up_to, state.sent_at))
    for check in source.list_check_reports():
        if target.get_check_report(check.id) is None:
            target.add_check_report(check)
            report.check_reports += 1
    held = {(d.connector, d.kind, d.origin, d.payload) for d in target.list_dead_letters()}
    for letter in source.list_dead_letters():  # oldest first: the new ids keep their order
        if (letter.connector, letter.kind, letter.origin, letter.payload) not in held:
            target.add_dead_letter(
                letter.connector, letter.kind, letter.origin, letter.reason, letter.payload
            )
            report.dead_letters += 1
    copied = {connector for connector, _ in target.ingest_totals()}
    totals: dict[str, dict[str, int]] = {}
    for (connector, outcome), n in source.ingest_totals().items():
        if connector not in copied:
            totals.setdefault(connector, {})[outcome] = n
    for connector, counts in totals.items():
        target.record_ingest(connector, counts)
        report.ingest_totals += 1


def _translate_date_added(source: Store, target: Store, collections: tuple[str, ...], up_to: int) -> int:
    """The target's stamp for "mailed everything up to `up_to`" in the source's stamps.

    The copy restamps date_added, so the source's number means nothing in the target. Per
    collection, the first version the source added after up_to is found again in the target, and
    the new up_to stops just before it (or at the target's newest when nothing came after). The
    smallest over the digest's collections is kept: a digest may repeat an object, never miss one.
    """
    marks = []
    for collection in collections:
        page = source.query(ObjectQuery(collection, versions=("all",), added_after=up_to, limit=1))
        if not page.objects:
            marks.append(target.newest_date_added(collection))
            continue
        first = page.objects[0]
        again = target.query(ObjectQuery(collection, ids=(first.id,), versions=(first.version,), limit=1))
        marks.append(again.objects[0].date_added - 1 if again.objects else up_to)
    return min(marks, default=up_to)
