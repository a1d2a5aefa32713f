"""The `cyberlab` command: set up the store, manage accounts, load STIX files, serve."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from config import ConfigError, CyberlabError, Settings, load_settings
from config.settings import ROLES
from cyberlab import accounts
from cyberlab.gunicorn_command import HOOKS, gunicorn_argv
from indexer.ingest import IngestReport, ingest_objects
from indexer.sanitize import Sanitizer
from indexer.store import open_store
from indexer.store.base import Store
from indexer.store.embedded import EmbeddedStore
from indexer.synthetic import demo_bundle
from indexer.timestamps import format_timestamp, parse_timestamp


class Context:
    def __init__(self, config_file: str | None) -> None:
        self._config_file = config_file
        self._settings: Settings | None = None
        self._store: Store | None = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = load_settings(self._config_file)
        return self._settings

    @property
    def store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings)
        return self._store


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_file",
    envvar="CYBERLAB_CONFIG",
    type=click.Path(dir_okay=False),
    help="TOML settings file (overrides config/defaults.toml; CYBERLAB_* variables override it).",
)
@click.pass_context
def main(ctx: click.Context, config_file: str | None) -> None:
    """CyberLab: the city's threat-sharing platform.

    \b
    First steps:
      cyberlab init --demo                 create the store and load demo indicators
      cyberlab users add acme --role subscriber
      cyberlab serve                       TAXII 2.1 at http://127.0.0.1:8000/taxii2/
    """
    ctx.obj = Context(config_file)


@main.command()
@click.option(
    "--demo", is_flag=True, help="Also load a generated demo feed (city SOC indicators and sightings)."
)
@pass_context
def init(ctx: Context, demo: bool) -> None:
    """Create the store (idempotent: an existing store is kept as it is)."""
    ctx.store.initialize()
    store = ctx.settings.store
    if store.backend == "elasticsearch":  # its data is not in data_dir: say where it is
        where = f"{', '.join(store.elasticsearch.hosts)} (index prefix {store.elasticsearch.index_prefix})"
    else:
        where = str(store.data_dir)
    click.echo(f"store ready: {store.backend} in {where}")
    if demo:
        for alias, tlp in (("city-indicators", "green"), ("public-blocklist", "clear")):
            collection = ctx.settings.collections.get(alias)
            if collection is None:
                continue
            report = ingest_objects(  # our own synthetic demo data: nothing to sanitize
                ctx.store, collection, demo_bundle(400 if tlp == "green" else 120, tlp), sanitizer=None
            )
            _print_report(report, alias)


@main.command()
@click.option("--bind", help="host:port to listen on (default: server.bind).")
@click.option("--workers", type=int, help="gunicorn worker processes (default: server.workers).")
@pass_context
def serve(ctx: Context, bind: str | None, workers: int | None) -> None:
    """Serve TAXII 2.1 and the web view under gunicorn."""
    settings = ctx.settings
    settings.require_safe_for_serving()
    ctx.store.initialize()
    # Workers count requests in files here so /metrics can sum them across workers.
    metrics_dir = Path(settings.store.data_dir) / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir.resolve())
    args = gunicorn_argv(
        bind or settings.server.bind,
        workers or settings.server.workers,
        settings.server.timeout,
        access_log="-",
        config=HOOKS,
    )
    click.echo(f"serving on http://{bind or settings.server.bind}/taxii2/ (Ctrl-C stops)")
    os.execv(sys.executable, args)


@main.group()
def users() -> None:
    """Manage accounts and their API keys."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="What the account may do.")
@pass_context
def users_add(ctx: Context, name: str, role: str) -> None:
    """Create an account and print its API key (shown once; only a hash is stored)."""
    key = _accounts_call(accounts.invite, ctx.store, name, role)
    click.echo(f"account {name!r} ({role}) created. API key, shown only now:\n{key}")


@users.command("list")
@pass_context
def users_list(ctx: Context) -> None:
    """List accounts (never their keys)."""
    rows = ctx.store.list_accounts()
    if not rows:
        click.echo("no accounts yet: cyberlab users add NAME --role ROLE")
    for acc in rows:
        state = "active" if acc.active else f"revoked {format_timestamp(acc.revoked or 0)}"
        click.echo(f"{acc.name:<24} {acc.role:<11} created {format_timestamp(acc.created)}  {state}")


@users.command("revoke")
@click.argument("name")
@pass_context
def users_revoke(ctx: Context, name: str) -> None:
    """Revoke an account's key at once, on every worker."""
    _accounts_call(accounts.revoke, ctx.store, name)
    click.echo(f"account {name!r} revoked")


@users.command("rotate")
@click.argument("name")
@pass_context
def users_rotate(ctx: Context, name: str) -> None:
    """Give an account a new API key (the old one stops working) and re-activate it."""
    key = _accounts_call(accounts.rotate, ctx.store, name)
    click.echo(f"new API key for {name!r}, shown only now:\n{key}")


@users.command("ensure")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="Role if the account is new.")
@pass_context
def users_ensure(ctx: Context, name: str, role: str) -> None:
    """Create the account, or give it a fresh key if it exists; print the key (for scripts and demos)."""
    acc = ctx.store.get_account(name)
    call = accounts.rotate if acc else lambda store, name: accounts.invite(store, name, role)
    key = _accounts_call(call, ctx.store, name)
    click.echo(f"account: {name} ({acc.role if acc else role})\nAPI key: {key}")


T = TypeVar("T")


def _accounts_call(action: Callable[..., T], *args: Any) -> T:
    try:
        return action(*args)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from None


@main.command("ingest-file")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--collection", "-c", required=True, help="Collection alias or id to add the objects to.")
@pass_context
def ingest_file(ctx: Context, path: Path, collection: str) -> None:
    """Add the objects of a STIX 2.1 bundle or TAXII envelope file to a collection.

    Every object is validated; invalid ones are listed and the rest are stored.
    """
    coll = ctx.settings.collection(collection)
    if coll is None:
        known = ", ".join(ctx.settings.collections)
        raise click.ClickException(f"no collection {collection!r}; known: {known}")
    try:
        document: Any = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise click.ClickException(f"{path} is not valid UTF-8 JSON: {exc}") from None
    if not isinstance(document, dict) or not isinstance(document.get("objects"), list):
        raise click.ClickException(
            f"{path} is neither a STIX bundle nor a TAXII envelope (no 'objects' list)"
        )
    with click.progressbar(document["objects"], label=f"ingesting {path.name}", file=sys.stderr) as objects:
        report = ingest_objects(ctx.store, coll, objects, sanitizer=Sanitizer(ctx.settings.sanitize))
    _print_report(report, coll.alias)
    if report.failures:
        sys.exit(1)


@main.command()
@click.argument("name")
@click.option(
    "--since",
    help="Start from this point instead of the saved cursor (RFC 3339 time; "
    "for SOC logs: 'start' re-reads every file).",
)
@click.option("--dry-run", is_flag=True, help="Read, normalize and sanitize, report, store nothing.")
@pass_context
def ingest(ctx: Context, name: str, since: str | None, dry_run: bool) -> None:
    """Run connector NAME once (see [connectors.NAME] in the settings) and print a run report.

    Resumes from the cursor saved by the last run, so a rerun reads only what is new and a run
    killed half-way loses and repeats nothing.
    """
    from indexer.pipeline import Pipeline

    if name not in ctx.settings.connectors:
        known = ", ".join(ctx.settings.connectors) or "none configured"
        raise click.ClickException(f"no connector {name!r}; known: {known}")
    cursor = _since_cursor(ctx.settings.connectors[name].type, since) if since else None
    progress = _Progress(f"ingesting {name}")
    report = Pipeline(ctx.settings, ctx.store, name).run(
        cursor=cursor, use_saved_cursor=since is None, dry_run=dry_run, progress=progress.update
    )
    progress.done()
    click.echo("\n".join(report.lines()))


class _Progress:
    """A live count of what a run has read (on a terminal; silent when output is piped).

    Sources rarely say how much there is to read (a growing log, a feed's next page), so this
    counts up with the rate instead of drawing a bar towards an unknown end.
    """

    def __init__(self, label: str) -> None:
        self.label = label
        self.count = 0
        self.started = time.monotonic()
        self.enabled = sys.stderr.isatty()

    def update(self, read: int) -> None:
        self.count += read
        if self.enabled:
            rate = self.count / max(time.monotonic() - self.started, 1e-6)
            sys.stderr.write(f"\r{self.label}: {self.count:,} read ({rate:,.0f}/s)   ")
            sys.stderr.flush()

    def done(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def _since_cursor(kind: str, since: str) -> str | None:
    if since == "start":
        return None
    try:
        micros = parse_timestamp(since)
    except ValueError:
        raise click.BadParameter(
            f"{since!r} is not an RFC 3339 time or 'start'", param_hint="--since"
        ) from None
    if kind in ("misp-feed", "misp"):
        return f"{micros // 1_000_000}:"
    if kind == "taxii":
        return orjson.dumps({"*": format_timestamp(micros)}).decode()
    return None


@main.group()
def deadletter() -> None:
    """Records a connector could not normalize, kept with the reason."""


@deadletter.command("list")
@click.option("--connector", help="Only this connector's.")
@pass_context
def deadletter_list(ctx: Context, connector: str | None) -> None:
    """List dead letters: id, connector, origin and reason."""
    letters = ctx.store.list_dead_letters(connector)
    if not letters:
        click.echo("no dead letters")
    for letter in letters:
        click.echo(
            f"{letter.id:>5}  {letter.connector:<16} {format_timestamp(letter.created)[:19]}  "
            f"{letter.origin}\n       {letter.reason}"
        )


@deadletter.command("retry")
@click.argument("connector")
@pass_context
def deadletter_retry(ctx: Context, connector: str) -> None:
    """Normalize CONNECTOR's dead letters again (after an upgrade or a fix); store those that pass.

    Those failing again stay, with their new reason. Exit code 1 if any still fails."""
    from indexer.pipeline import retry_dead_letters

    report = retry_dead_letters(ctx.settings, ctx.store, connector)
    click.echo("\n".join(report.lines()))
    if report.failing:
        sys.exit(1)


@main.command()
@click.option("--collection", "-c", "collections", multiple=True, help="Only this collection (repeatable).")
@click.option("--dry-run", is_flag=True, help="Count what would be revoked.")
@pass_context
def expire(ctx: Context, collections: tuple[str, ...], dry_run: bool) -> None:
    """Revoke indicators past their valid_until, as new versions TAXII subscribers receive."""
    from indexer.expiry import expire as expire_collection

    for coll in ctx.settings.collections.values():
        if collections and coll.alias not in collections and coll.id not in collections:
            continue
        count = expire_collection(ctx.store, coll, dry_run=dry_run)
        click.echo(f"{coll.alias}: {count} indicator(s) {'to revoke' if dry_run else 'revoked'}")


@main.command()
@click.option(
    "--to",
    "backend",
    type=click.Choice(["elasticsearch"]),
    required=True,
    help="The store to copy into (configured under [store.elasticsearch]).",
)
@pass_context
def reindex(ctx: Context, backend: str) -> None:
    """Copy the embedded store into Elasticsearch: every object version, account, connector
    cursor, digest subscription, check report, dead letter and the ingest totals.

    Safe to re-run: objects already copied count as duplicates. Afterwards set
    store.backend = "elasticsearch" and restart the server and the worker.
    """
    from indexer.pipeline import cursor_key
    from indexer.reindex import copy_store
    from indexer.store.elastic import ElasticStore

    source = EmbeddedStore(ctx.settings.store.data_dir)
    target = ElasticStore(ctx.settings.store.elasticsearch)
    target.initialize()
    collections = [c.id for c in ctx.settings.collections.values()]
    total = sum(source.count(c) for c in collections)
    with click.progressbar(length=total, label="copying objects", file=sys.stderr) as bar:
        cursors = [cursor_key(name) for name in ctx.settings.connectors]  # as the pipeline keys them
        report = copy_store(source, target, collections, cursors, bar.update)
    outcomes = ", ".join(f"{n:,} {outcome}" for outcome, n in sorted(report.objects.items())) or "nothing"
    click.echo(
        f"objects: {outcomes}; accounts: {report.accounts}; cursors: {report.cursors}; "
        f"digest subscriptions: {report.digests}; check reports: {report.check_reports}; "
        f"dead letters: {report.dead_letters}; ingest totals: {report.ingest_totals} connectors"
    )


@main.command()
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
@pass_context
def backup(ctx: Context, target: Path) -> None:
    """Copy the live store to TARGET (consistent while the server and ingests keep running)."""
    store = ctx.store
    if not isinstance(store, EmbeddedStore):
        raise click.ClickException("backup is for the embedded store; back Elasticsearch up with snapshots")
    pages = store.backup(target)
    click.echo(f"backed up {pages:,} pages to {target} (integrity check: ok)")


@main.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--yes", is_flag=True, help="Do not ask before replacing the current store.")
@pass_context
def restore(ctx: Context, source: Path, yes: bool) -> None:
    """Replace the store with the backup SOURCE. Stop the server and the worker first."""
    if not yes:
        click.confirm(f"Replace the store in {ctx.settings.store.data_dir} with {source}?", abort=True)
    EmbeddedStore.restore(source, ctx.settings.store.data_dir)
    click.echo(f"restored {source} into {ctx.settings.store.data_dir}")


@main.command()
@click.option("--once", is_flag=True, help="Run every enabled connector once, then exit.")
@pass_context
def worker(ctx: Context, once: bool) -> None:
    """Run the enabled connectors on their schedules, in one long-running process.

    A connector that fails is logged and retried at its next slot; the others go on.
    """
    from cyberlab.digest import send_due
    from indexer.worker import run_worker

    jobs = {}
    if ctx.settings.digest.schedule > 0:
        jobs["digest"] = (
            ctx.settings.digest.schedule,
            lambda: _log_digest(send_due(ctx.settings, ctx.store)),
        )
    run_worker(ctx.settings, ctx.store, once=once, jobs=jobs)


def _log_digest(lines: list[Any]) -> None:
    import logging

    for line in lines:
        if line.outcome not in ("not-due", "disabled", "nothing-new"):
            logging.getLogger("cyberlab.digest").info("worker.digest %s", line)


@main.group()
def digest() -> None:
    """The email digest (subscriptions are made on the web page "Email digest")."""


@digest.command("send")
@click.option(
    "--dry-run", is_flag=True, help="Build every due digest and say what would be sent; send nothing."
)
@click.option("--force", is_flag=True, help="Send to every enabled subscription now, due or not.")
@pass_context
def digest_send(ctx: Context, dry_run: bool, force: bool) -> None:
    """Mail every due digest: what is new since each account's last one and still worth blocking.

    An account's digest is recorded as sent only once the SMTP server accepted it, so a failed
    send (server down, recipient refused) is retried by the next run and nothing is sent twice.
    Exits 1 when a digest could not be sent.
    """
    from cyberlab.digest import send_due

    lines = send_due(ctx.settings, ctx.store, dry_run=dry_run, force=force)
    if not lines:
        click.echo("no subscriptions yet: accounts subscribe on the web page 'Email digest'")
    for line in lines:
        click.echo(str(line))
    if any(line.outcome == "failed" for line in lines):
        sys.exit(1)


def _print_report(report: IngestReport, alias: str) -> None:
    counts = report.counts
    click.echo(
        f"{alias}: {report.total} objects read, {counts['added']} added, "
        f"{counts['duplicate']} already present, {counts['conflict']} conflicting, "
        f"{counts['invalid']} invalid"
    )
    for failure in report.failures[:20]:
        click.echo(f"  rejected {failure.id or '<no id>'}: {failure.message}", err=True)
    if len(report.failures) > 20:
        click.echo(f"  ... and {len(report.failures) - 20} more", err=True)


def run() -> None:
    try:
        main(standalone_mode=True)
    except (ConfigError, CyberlabError) as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    run()
