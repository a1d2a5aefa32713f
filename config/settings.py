"""Typed, frozen settings: defaults.toml < file in CYBERLAB_CONFIG < CYBERLAB_* environment.

Unknown keys are errors at every level, so a misspelt setting is caught at startup instead of
silently falling back to its default.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from config.errors import ConfigError
from config.secret import Secret
from config.soc_policy import SocPolicySettings, check_policy

DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")
ENV_PREFIX = "CYBERLAB_"
# CYBERLAB_* variables that are not settings: the config file path and the test-suite switch
# that points the Elasticsearch tests at a cluster.
ENV_NOT_SETTINGS = frozenset({"CYBERLAB_CONFIG", "CYBERLAB_ES_URL"})
PLACEHOLDER_SIGNING_KEY = "CHANGE-ME"
ROLES = ("subscriber", "partner", "analyst", "admin")
TLP_LEVELS = ("clear", "green", "amber", "amber+strict", "red")


@dataclass(frozen=True)
class ServerSettings:
    dev: bool
    signing_key: Secret
    bind: str
    workers: int
    timeout: int
    public_url: str
    # Session cookies only over HTTPS (turn off only for plain-HTTP local testing).
    secure_cookies: bool = True
    # A web login lasts this long; then the next page asks to log in again.
    session_hours: float = 8.0
    # Addresses or networks of reverse proxies whose X-Forwarded-For/-Proto are believed (empty:
    # nobody's; the client address is the TCP peer), and how many proxies stand in a row.
    trusted_proxies: tuple[str, ...] = ()
    proxy_hops: int = 1


@dataclass(frozen=True)
class ElasticsearchSettings:
    hosts: tuple[str, ...] = ("http://127.0.0.1:9200",)
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    api_key: Secret = field(default_factory=lambda: Secret(""))
    ca_certs: str = ""
    verify_certs: bool = True
    index_prefix: str = "cyberlab"
    request_timeout: int = 10
    number_of_shards: int = 1
    number_of_replicas: int = 0
    refresh_interval: str = "1s"
    bulk_chunk_size: int = 1000
    lease_seconds: int = 30
    lease_wait_seconds: int = 120


@dataclass(frozen=True)
class StoreSettings:
    backend: str
    data_dir: Path
    elasticsearch: ElasticsearchSettings = field(default_factory=ElasticsearchSettings)


@dataclass(frozen=True)
class TaxiiSettings:
    title: str
    description: str
    contact: str
    api_root: str
    api_root_title: str
    api_root_description: str
    default_page_size: int
    max_page_size: int
    max_content_length: int


@dataclass(frozen=True)
class CollectionSettings:
    id: str
    title: str
    description: str
    tlp_ceiling: str
    public: bool
    read_roles: tuple[str, ...]
    write_roles: tuple[str, ...]
    alias: str = ""


@dataclass(frozen=True)
class ConnectorSettings:
    """One configured source. `type` picks the connector class (see connectors.registry)."""

    type: str
    collection: str
    enabled: bool = True
    # Seconds between runs under `cyberlab worker`.
    schedule: int = 3600
    # TLP for objects that arrive without a marking: clear, green, amber, amber+strict, red.
    default_tlp: str = "green"
    # Where to read: a URL (feeds, MISP, TAXII) or files and directories (feeds, SOC logs; "-" = stdin).
    url: str = ""
    paths: tuple[str, ...] = ()
    api_key: Secret = field(default_factory=lambda: Secret(""))
    username: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    verify_tls: bool = True
    # TAXII: upstream collection ids (empty = every readable one). SOC: formats to accept (empty = detect).
    collections: tuple[str, ...] = ()
    formats: tuple[str, ...] = ()
    # SOC, demo only: replay old logs as if they just happened. Each file's timestamps are shifted so
    # its newest line is "now" (the first run's clock); the shift is stored in the cursor, so a re-run
    # neither duplicates nor moves anything. The run report says so. Never for real data.
    demo_shift_to_now: bool = False
    # Display name of the source organization (identity of its sightings).
    source_name: str = ""
    name: str = ""
    # SOC only: what counts as an attack ([soc_policy], overridden by [connectors.NAME.policy]).
    policy: SocPolicySettings = field(default_factory=SocPolicySettings)


@dataclass(frozen=True)
class SanitizeSettings:
    protected_networks: tuple[str, ...]
    protected_domains: tuple[str, ...]
    warninglists: bool
    warninglists_exclude: tuple[str, ...] = ()
    # Networks broader than these prefixes never reach a blocklist (a /8 there blocks a continent).
    min_prefix_v4: int = 16
    min_prefix_v6: int = 32
    # Non-public ranges shared anyway (e.g. the RFC 5737 documentation ranges in a demo or test).
    allowed_networks: tuple[str, ...] = ()


@dataclass(frozen=True)
class ValidationSettings:
    """Limits every incoming object is checked against before anything costly (a parser) runs."""

    max_pattern_length: int = 10240  # characters of one STIX pattern
    max_pattern_comparisons: int = 200  # comparisons in one pattern
    max_pattern_depth: int = 20  # nested brackets and parentheses in one pattern
    max_object_depth: int = 32  # nested JSON objects/lists in one STIX object


@dataclass(frozen=True)
class ExpirySettings:
    """Days an indicator stays valid after it was last seen, by observable kind; 0 = never expires."""

    ip_days: int
    domain_days: int
    url_days: int
    email_days: int
    hash_days: int
    other_days: int


@dataclass(frozen=True)
class RateLimitSettings:
    enabled: bool
    per_key: str  # e.g. "600 per minute": per credential (or per address without one)
    per_address: str  # ceiling per client address, whatever credentials it sends
    storage: str  # "memory://" (per worker) or "redis://host:6379/0" (shared)
    exports: str = "120 per hour"  # blocklist downloads per credential (304s count too)
    uploads: str = "60 per hour"  # sighting uploads per credential (API and web form)
    # Failed logins (Basic or the web form) per client address; over it: 429 before any scrypt.
    failed_logins: str = "20 per minute"


@dataclass(frozen=True)
class SearchSettings:
    """What one search may cost: anonymous visitors search too."""

    time_budget_ms: int = 2000  # over it, the search stops and the caller gets a 422
    max_terms: int = 64  # words, phrases and operands in one query
    max_prefix_terms: int = 8  # prefix/wildcard/fuzzy terms (a*, a?c, a~) in one advanced query
    facet_sample_size: int = 50_000  # facets of more text matches are estimated (0: always exact)


@dataclass(frozen=True)
class LimitSettings:
    """Bounds on what one request may make the server hold, store or answer."""

    envelope_objects: int = 10_000  # objects in one TAXII POST envelope (more: 413)
    upload_lines: int = 10_000  # sightings in one upload, API or web form (more: 413)
    status_failures: int = 1_000  # failure details kept in a status; the rest are only counted
    filter_values: int = 100  # distinct values in one TAXII match[...] filter (more: 400)
    trend_objects: int = 5_000  # indicators the home page's 30-day chart counts at most (then "at least")
    edl_lines: int = 50_000  # entries in one external dynamic list export (PAN-OS: 50,000 on most models)


@dataclass(frozen=True)
class DigestSettings:
    """The email digest (`cyberlab digest send`, and `cyberlab worker` every `schedule` seconds)."""

    host: str = "127.0.0.1"
    port: int = 25
    starttls: bool = False  # STARTTLS before logging in (required when user is set and not on loopback)
    user: str = ""
    password: Secret = field(default_factory=lambda: Secret(""))
    from_address: str = "cyberlab@example.org"
    # Seconds between the worker's looks for digests that are due (0 = the worker sends none).
    schedule: int = 3600
    timeout: int = 30  # seconds for each SMTP conversation
    top_items: int = 10  # items shown with advice in the body (the CSV has them all)
    language: str = "en"  # of the mail: en or es (cyberlab/translations)


@dataclass(frozen=True)
class CheckSettings:
    """ "Is this suspicious?" (/check and POST /api/v1/check): caps on attacker-written input."""

    max_text_bytes: int = 100_000  # pasted text (and the text read from one email's bodies)
    max_eml_bytes: int = 2_000_000  # an uploaded .eml, attachments included
    max_values: int = 200  # observables answered per check (the rest are counted, not looked up)
    rate_limit: str = "30 per minute"  # per account, or per address when anonymous


@dataclass(frozen=True)
class Settings:
    log_level: str
    server: ServerSettings
    store: StoreSettings
    taxii: TaxiiSettings
    sanitize: SanitizeSettings
    expiry: ExpirySettings
    rate_limit: RateLimitSettings
    platform_name: str = "CyberLab"
    # Where partners' sightings (web form, POST /api/v1/sightings) are stored.
    sightings_collection: str = "partner-sightings"
    validation: ValidationSettings = ValidationSettings()
    log_format: str = "text"
    collections: dict[str, CollectionSettings] = field(default_factory=dict)
    connectors: dict[str, ConnectorSettings] = field(default_factory=dict)
    search: SearchSettings = field(default_factory=SearchSettings)
    limits: LimitSettings = field(default_factory=LimitSettings)
    digest: DigestSettings = field(default_factory=DigestSettings)
    check: CheckSettings = field(default_factory=CheckSettings)
    # The site's default of what SOC connectors publish (each connector's `policy` is built over it).
    soc_policy: SocPolicySettings = field(default_factory=SocPolicySettings)
    # Where analysts' accepted "is this suspicious?" reports become indicators.
    reports_collection: str = "city-indicators"

    def collection(self, id_or_alias: str) -> CollectionSettings | None:
        for coll in self.collections.values():
            if id_or_alias in (coll.id, coll.alias):
                return coll
        return None

    def require_safe_for_serving(self) -> None:
        """Refuse to serve with a guessable signing key unless explicitly in dev mode."""
        key = self.server.signing_key.reveal()
        if self.server.dev:
            return
        if key == PLACEHOLDER_SIGNING_KEY:
            raise ConfigError(
                "server.signing_key is still the placeholder; set CYBERLAB_SERVER__SIGNING_KEY "
                "to a random value of 32+ characters, or enable dev mode (CYBERLAB_SERVER__DEV=true)"
            )
        if len(key) < 32:
            raise ConfigError("server.signing_key must be at least 32 characters outside dev mode")


def load_settings(
    config_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Load settings from defaults, an optional TOML file and the environment."""
    environ = os.environ if environ is None else environ
    merged = _read_toml(DEFAULTS_FILE)
    path = config_file or environ.get("CYBERLAB_CONFIG")
    if path:
        _deep_merge(merged, _read_toml(Path(path)), prefix="")
    _deep_merge(merged, _env_overrides(environ), prefix="")
    return _build_settings(merged)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"config file not found: {path}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    overrides: dict[str, Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in ENV_NOT_SETTINGS:
            continue
        path = name[len(ENV_PREFIX) :].lower().split("__")
        node = overrides
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return overrides


def _deep_merge(base: dict[str, Any], override: Mapping[str, Any], prefix: str) -> None:
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _deep_merge(base[key], value, prefix=f"{prefix}{key}.")
        else:
            base[key] = value


def _build_settings(raw: dict[str, Any]) -> Settings:
    raw = dict(raw)
    connectors_raw = raw.pop("connectors", {}) or {}
    collections_raw = raw.pop("collections", {}) or {}
    if not isinstance(collections_raw, Mapping):
        raise ConfigError("collections must be a table of tables keyed by alias")
    collections: dict[str, CollectionSettings] = {}
    for alias, table in collections_raw.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"collections.{alias} must be a table")
        coll = _build(CollectionSettings, {**table, "alias": alias}, f"collections.{alias}")
        _check_collection(coll)
        collections[alias] = coll
    connectors: dict[str, ConnectorSettings] = {}
    if not isinstance(connectors_raw, Mapping):
        raise ConfigError("connectors must be a table of tables keyed by name")
    policy_raw = raw.get("soc_policy", {}) or {}
    if not isinstance(policy_raw, Mapping):
        raise ConfigError("soc_policy must be a table")
    for name, table in connectors_raw.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"connectors.{name} must be a table")
        table = {**table, "name": name}
        own_policy = table.get("policy", {})
        if not isinstance(own_policy, Mapping):
            raise ConfigError(f"connectors.{name}.policy must be a table")
        if table.get("type") == "soc":
            table["policy"] = {**policy_raw, **own_policy}  # the site's policy, this connector's keys over it
        elif "policy" in table:
            raise ConfigError(f"connectors.{name}.policy is for soc connectors only")
        connectors[name] = _build(ConnectorSettings, table, f"connectors.{name}")
    built: Settings = _build(Settings, {**raw, "collections": {}, "connectors": {}}, "")
    connectors = {name: _with_site_networks(conn, built.sanitize) for name, conn in connectors.items()}
    settings = dataclasses.replace(built, collections=collections, connectors=connectors)
    _check_settings(settings)
    return settings


def _with_site_networks(conn: ConnectorSettings, sanitize: SanitizeSettings) -> ConnectorSettings:
    """The city's own networks are home and the shared non-public ones outside, for every SOC
    connector: the sanitizer would drop an attacker picked from the wrong end."""
    if conn.type != "soc":
        return conn
    policy = dataclasses.replace(
        conn.policy,
        home_networks=tuple(dict.fromkeys((*conn.policy.home_networks, *sanitize.protected_networks))),
        external_networks=tuple(dict.fromkeys((*conn.policy.external_networks, *sanitize.allowed_networks))),
    )
    return dataclasses.replace(conn, policy=policy)


def _check_collection(coll: CollectionSettings) -> None:
    where = f"collections.{coll.alias}"
    if coll.tlp_ceiling not in TLP_LEVELS:
        raise ConfigError(f"{where}.tlp_ceiling must be one of {', '.join(TLP_LEVELS)}")
    for role in (*coll.read_roles, *coll.write_roles):
        if role not in ROLES:
            raise ConfigError(f"{where}: unknown role {role!r}; roles are {', '.join(ROLES)}")


def _check_settings(settings: Settings) -> None:
    taxii = settings.taxii
    if not 1 <= taxii.default_page_size <= taxii.max_page_size:
        raise ConfigError("taxii.default_page_size must be between 1 and taxii.max_page_size")
    if settings.log_format not in ("text", "json"):
        raise ConfigError("log_format must be 'text' or 'json'")
    if settings.store.backend not in ("sqlite", "elasticsearch"):
        raise ConfigError(
            f"store.backend {settings.store.backend!r} is unknown; use 'sqlite' or 'elasticsearch'"
        )
    es = settings.store.elasticsearch
    for name, low in (
        ("number_of_shards", 1),
        ("number_of_replicas", 0),
        ("bulk_chunk_size", 1),
        ("lease_seconds", 3),
        ("lease_wait_seconds", 1),
    ):
        if getattr(es, name) < low:
            raise ConfigError(f"store.elasticsearch.{name} must be at least {low}")
    if settings.collections and settings.collection(settings.sightings_collection) is None:
        raise ConfigError(f"sightings_collection: no collection {settings.sightings_collection!r}")
    if settings.collections and settings.collection(settings.reports_collection) is None:
        raise ConfigError(f"reports_collection: no collection {settings.reports_collection!r}")
    if settings.digest.port <= 0 or settings.check.max_text_bytes <= 0 or settings.check.max_eml_bytes <= 0:
        raise ConfigError("digest.port and the check.max_* sizes must be positive")
    if settings.digest.language not in ("en", "es"):
        raise ConfigError("digest.language must be en or es")
    ids = [c.id for c in settings.collections.values()]
    if len(ids) != len(set(ids)):
        raise ConfigError("two collections share one id")
    check_policy(settings.soc_policy, "soc_policy")
    for name, conn in settings.connectors.items():
        if settings.collection(conn.collection) is None:
            raise ConfigError(f"connectors.{name}.collection: no collection {conn.collection!r}")
        if conn.default_tlp not in TLP_LEVELS:
            raise ConfigError(f"connectors.{name}.default_tlp must be one of {', '.join(TLP_LEVELS)}")
        if conn.demo_shift_to_now and conn.type != "soc":
            # Feeds keep the dates their publisher gave them; only the SOC demo logs are replayed.
            raise ConfigError(f"connectors.{name}.demo_shift_to_now is for soc connectors only")
        if conn.type == "soc":
            check_policy(conn.policy, f"connectors.{name}.policy")
    for cidr in settings.server.trusted_proxies:
        try:
            ipaddress.ip_network(cidr, strict=False)
        except ValueError:
            raise ConfigError(f"server.trusted_proxies: {cidr!r} is not an address or network") from None
    for name in ("protected_networks", "allowed_networks"):
        for cidr in getattr(settings.sanitize, name):
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ConfigError(f"sanitize.{name}: {cidr!r} is not a CIDR") from None
    for name in ("max_pattern_length", "max_pattern_comparisons", "max_pattern_depth", "max_object_depth"):
        if getattr(settings.validation, name) < 1:
            raise ConfigError(f"validation.{name} must be at least 1")
    if settings.validation.max_object_depth > 250:  # orjson refuses deeper than 255 (a 500)
        raise ConfigError("validation.max_object_depth must be at most 250")


def _build(cls: type[Any], raw: Mapping[str, Any], where: str) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = set(raw) - set(fields)
    if unknown:
        names = ", ".join(sorted(f"{where}{'.' if where else ''}{k}" for k in unknown))
        raise ConfigError(f"unknown setting(s): {names}")
    values: dict[str, Any] = {}
    for name, fld in fields.items():
        key = f"{where}{'.' if where else ''}{name}"
        if name not in raw:
            if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                raise ConfigError(f"missing setting: {key}")
            continue
        values[name] = _coerce(hints[name], raw[name], key)
    return cls(**values)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Turn TOML values and environment strings into the field's declared type."""
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if not isinstance(value, Mapping):
            raise ConfigError(f"{key} must be a table")
        return _build(hint, value, key)
    origin = typing.get_origin(hint)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on"):
            return True
        if isinstance(value, str) and value.lower() in ("0", "false", "no", "off"):
            return False
        raise ConfigError(f"{key} must be true or false, got {value!r}")
    if hint is int:
        try:
            if isinstance(value, bool):
                raise ValueError
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be an integer, got {value!r}") from None
    if hint is float:
        try:
            if isinstance(value, bool):
                raise ValueError
            number = float(value)
        except (TypeError, ValueError):
            raise ConfigError(f"{key} must be a number, got {value!r}") from None
        if not 0 < number < 1e6:
            raise ConfigError(f"{key} must be a positive number, got {value!r}")
        return number
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key} must be a string")
        return value
    if hint is Path:
        return Path(str(value))
    if hint is Secret:
        return Secret(str(value))
    if origin is tuple:
        if isinstance(value, str):  # from the environment: comma-separated
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list):
            raise ConfigError(f"{key} must be a list")
        return tuple(str(v) for v in value)
    if origin is dict or isinstance(hint, types.GenericAlias):
        return value
    raise ConfigError(f"{key}: unsupported setting type {hint!r}")
