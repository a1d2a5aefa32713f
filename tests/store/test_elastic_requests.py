"""The Elasticsearch backend's requests, pinned, and its behaviour when Elasticsearch is not there.

Elasticsearch cannot run on these machines, so besides the contract and search suites (which run
against a real cluster when CYBERLAB_ES_URL is set), these tests use:
- the pure request builders, compared with the exact bodies we mean to send;
- a recording fake (a local HTTP server that answers like Elasticsearch 7.17 with canned hits,
  stated here as a fake) to count the requests one TAXII page costs through the real server.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from config.settings import ElasticsearchSettings
from cyberlab.devserver import free_port
from indexer.errors import StoreError
from indexer.search.model import SearchQuery
from indexer.store import elastic_queries as q
from indexer.store.base import Keyset, ObjectQuery
from indexer.store.elastic import ElasticStore, search_source
from tests.helpers import TAXII, cli, start_server


def test_taxii_page_is_one_keyset_search() -> None:
    body = q.taxii_page(
        ObjectQuery(
            "c1",
            types=("indicator",),
            added_after=1_700_000_000_000_001,
            after=Keyset(1_700_000_000_000_005, "indicator--x", 7),
            limit=100,
        )
    )
    assert body == {
        "size": 101,
        "track_total_hits": False,
        "_source": True,  # whole: filtering makes the node parse and rewrite every hit
        "query": {
            "bool": {
                "filter": [
                    {"term": {"collection": "c1"}},
                    {"terms": {"type": ["indicator"]}},
                    {"bool": {"should": [{"term": {"is_last": True}}], "minimum_should_match": 1}},
                    {"range": {"date_added": {"gt": 1_700_000_000_000_001}}},
                    # the position as a range too: earlier documents are skipped, not compared
                    {"range": {"date_added": {"gte": 1_700_000_000_000_005}}},
                ]
            }
        },
        "sort": [{"date_added": "asc"}, {"id": "asc"}, {"version": "asc"}],
        "search_after": [1_700_000_000_000_005, "indicator--x", 7],
    }


def test_times_are_exact_micros_and_any_legal_time_fits() -> None:
    """search_after resumes at the very stamp the store assigned (a long, not date_nanos, which
    read the number back as milliseconds); a far-future added_after is a plain empty range."""
    future = q.taxii_page(ObjectQuery("c1", added_after=32_503_680_000_000_000, limit=5))  # 3000-01-01
    assert {"range": {"date_added": {"gt": 32_503_680_000_000_000}}} in future["query"]["bool"]["filter"]
    assert q.clamp(10**30) == 2**63 - 1
    assert q.taxii_page(ObjectQuery("c1", limit=50_000))["size"] == q.WINDOW  # never past the window


def test_version_selection_and_ids() -> None:
    body = q.taxii_page(ObjectQuery("c1", ids=("a--1",), versions=("first", 5), limit=10))
    assert body["query"]["bool"]["filter"][1:] == [
        {"terms": {"id": ["a--1"]}},
        {
            "bool": {
                "should": [{"term": {"is_first": True}}, {"terms": {"version": [5]}}],
                "minimum_should_match": 1,
            }
        },
    ]


def test_plain_text_search_reads_no_syntax() -> None:
    body = q.search(SearchQuery(collections=("c1",), text="' OR 1=1 -- title:*", max_tlp=3, sort="relevance"))
    fields = ["t_value^4", "t_name^2", "t_description", "t_pattern", "t_labels"]
    assert body["query"]["bool"]["must"] == [
        {
            "bool": {
                "must": [
                    {"multi_match": {"query": word, "type": "phrase", "fields": fields}}
                    for word in ("or", "1 1", "title")  # words as the index holds them; "'" holds none
                ]
            }
        }
    ]
    assert q.text_query("* --", advanced=False) == {"match_none": {}}
    assert q.words("Évil.Example.com 198.51.100.7 snake_case") == "evil example com 198 51 100 7 snake case"
    # the ASCII fast path and the normalizing one split alike
    assert q.words("Evil.Example.com 198.51.100.7 snake_case") == "evil example com 198 51 100 7 snake case"
    assert body["sort"] == [{"_score": "desc"}, {"doc_key": "asc"}]
    assert body["track_total_hits"] == 10_001
    assert body["query"]["bool"]["filter"][:3] == [
        {"terms": {"collection": ["c1"]}},
        {"bool": {"must_not": [{"term": {"type": "relationship"}}]}},
        {
            "bool": {
                "should": [
                    {"range": {"tlp_rank": {"lte": 3}}},
                    {"bool": {"must_not": {"exists": {"field": "tlp_rank"}}}},
                ],
                "minimum_should_match": 1,
            }
        },
    ]


def test_advanced_search_uses_query_string() -> None:
    body = q.search(SearchQuery(collections=("c1",), text="brute OR phishing", advanced=True))
    assert body["query"]["bool"]["must"] == [
        {
            "query_string": {
                "query": "brute OR phishing",
                "fields": ["t_value^4", "t_name^2", "t_description", "t_pattern", "t_labels"],
            }
        }
    ]


def test_cidr_domain_value_filters_and_facets() -> None:
    body = q.search(
        SearchQuery(
            collections=("c1",),
            values=(" Evil.COM ",),
            cidr="198.51.100.0/24",
            domain="Example.com",
            min_sightings=2,
            sort="-last_seen",
            after=(1_700_000_000_000, "c1|indicator--x"),
            facets=True,
        )
    )
    filters = body["query"]["bool"]["filter"]
    assert {"terms": {"value_keys": ["evil.com"]}} in filters
    assert {
        "range": {"ip_ranges": {"gte": "198.51.100.0", "lte": "198.51.100.255", "relation": "within"}}
    } in filters
    assert {
        "bool": {
            "should": [{"term": {"domain_revs": "com.example"}}, {"prefix": {"domain_revs": "com.example."}}],
            "minimum_should_match": 1,
        }
    } in filters
    assert {"range": {"sightings": {"gte": 2}}} in filters
    assert body["sort"] == [{"last_seen": "desc"}, {"doc_key": "asc"}]
    assert body["search_after"] == [1_700_000_000_000, "c1|indicator--x"]
    assert set(body["aggs"]) == {"type", "source", "label", "tlp"}
    with pytest.raises(ValueError, match="not an IP address or CIDR"):
        q.search(SearchQuery(collections=("c1",), cidr="nope"))


def test_mappings_follow_the_design() -> None:
    search = q.templates("cl")["cl-search"]["mappings"]["properties"]
    objects = q.templates("cl")["cl-objects"]["mappings"]["properties"]
    for keyword in ("id", "type", "value_keys", "labels", "sources", "tlp"):
        assert search[keyword]["type"] == "keyword", keyword
    for date in ("first_seen", "last_seen", "valid_until"):
        assert search[date]["type"] == "date", date
    assert objects["date_added"]["type"] == "long"  # micros: exact in search_after and ranges
    assert q.templates("cl")["cl-objects"]["mappings"]["_routing"] == {"required": True}
    assert q.templates("cl", shards=3, replicas=1)["cl-search"]["settings"]["number_of_replicas"] == 1
    # The objects index is sorted as a TAXII page is, so a page stops early in every segment.
    sort = q.templates("cl")["cl-objects"]["settings"]
    assert [{sort["sort.field"][i]: sort["sort.order"][i]} for i in range(3)] == q.TAXII_SORT
    # Mapping version 3: each text is indexed once, as its words (positions for phrases, no norms);
    # the originals are only kept (name, description: shown) or sorted on (value.raw).
    assert q.templates("cl")["cl-search"]["mappings"]["_meta"] == {"cyberlab_mapping": 3}
    for words in ("t_value", "t_name", "t_description", "t_pattern", "t_labels"):
        assert search[words] == {"type": "text", "analyzer": "standard", "norms": False}, words
    for text in ("name", "description", "value"):
        assert search[text]["index"] is False and search[text]["doc_values"] is False, text
    assert search["value"]["fields"] == {"raw": {"type": "keyword", "ignore_above": 1024, "index": False}}
    assert "pattern" not in search and "created_by" not in search  # not sent: read by no query
    assert "value" in q.templates("cl")["cl-search"]["mappings"]["_source"]["excludes"]
    assert search["ip_ranges"]["type"] == "ip_range"
    assert objects["body"]["index"] is False


def test_search_documents_carry_ranges_and_reversed_domains() -> None:
    indicator = {
        "type": "indicator",
        "id": "indicator--1",
        "pattern": "[ipv4-addr:value = '198.51.100.7'] OR [url:value = 'http://a.Example.com/x']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        "modified": "2026-02-01T00:00:00Z",
    }
    source = search_source("c1", indicator, 1)
    assert source is not None
    assert source["ip_ranges"] == ["198.51.100.7/32"]
    assert source["domain_revs"] == ["com.example.a"]
    assert source["doc_key"] == "c1|indicator--1"
    assert source["first_seen"] == 1_767_225_600_000  # epoch millis for the date fields


def test_unreachable_elasticsearch_is_a_clear_error_naming_the_url() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    store = ElasticStore(ElasticsearchSettings(hosts=(url,), request_timeout=2))
    with pytest.raises(StoreError, match=f"Elasticsearch at {url} is unreachable"):
        store.initialize()
    with pytest.raises(StoreError, match="unreachable"):  # and so does every later call
        store.add_objects("c1", []) or store.count("c1")


# -- a recording fake Elasticsearch -------------------------------------------------------------
class FakeElasticsearch(BaseHTTPRequestHandler):
    """Answers like Elasticsearch 7.17: its info, and canned search hits; records every request."""

    recorded: ClassVar[list[tuple[str, str, Any]]] = []
    hits: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _handle(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length)) if length else None
        self.recorded.append((self.command, self.path.split("?")[0], body))
        if self.path.split("?")[0] == "/":
            self._answer(
                200,
                {
                    "version": {"number": "7.17.0", "build_flavor": "default"},
                    "tagline": "You Know, for Search",
                },
            )
        elif self.path.split("?")[0].endswith("/_search"):
            size = body.get("size", 10) if body else 10
            self._answer(
                200,
                {"hits": {"total": {"value": len(self.hits), "relation": "eq"}, "hits": self.hits[:size]}},
            )
        else:
            self._answer(404, {"error": "not in this fake", "status": 404})

    do_GET = do_POST = do_PUT = do_HEAD = _handle


@pytest.fixture
def fake_es() -> Iterator[str]:
    FakeElasticsearch.recorded = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeElasticsearch)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_taxii_page_costs_one_elasticsearch_request(fake_es: str, tmp_path: Path) -> None:
    """The real server, store = elasticsearch, pointed at the recording fake."""
    FakeElasticsearch.hits = [
        {
            "_source": {
                "id": f"indicator--00000000-0000-4000-8000-{n:012d}",
                "type": "indicator",
                "version": 1,
                "version_text": "2026-01-01T00:00:00.000Z",
                "spec_version": "2.1",
                "body": json.dumps(
                    {"id": f"indicator--00000000-0000-4000-8000-{n:012d}", "type": "indicator"}
                ),
            },
            "sort": [1_767_225_600_000_000 + n, f"indicator--{n}", 1],
        }
        for n in range(101)
    ]
    server = start_server(
        tmp_path,
        {},
        CYBERLAB_STORE__BACKEND="elasticsearch",
        CYBERLAB_STORE__ELASTICSEARCH__HOSTS=fake_es,
    )
    try:
        response = requests.get(
            server.collection_url("public-blocklist") + "objects/", headers={"Accept": TAXII}, timeout=10
        )
    finally:
        server.stop()
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["objects"]) == 100 and body["more"] is True
    searches = [r for r in FakeElasticsearch.recorded if r[1].endswith("/_search")]
    assert len(searches) == 1
    assert searches[0][1] == "/cyberlab-objects/_search"
    assert searches[0][2]["size"] == 101


def test_the_cli_names_an_unreachable_elasticsearch_and_exits_2(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    done = cli(
        tmp_path,
        "reindex",
        "--to",
        "elasticsearch",
        CYBERLAB_STORE__ELASTICSEARCH__HOSTS=url,
        CYBERLAB_STORE__ELASTICSEARCH__REQUEST_TIMEOUT="2",
    )
    assert done.returncode == 2, done.stderr
    assert f"Elasticsearch at {url} is unreachable" in done.stderr
    assert "Traceback" not in done.stderr


def test_the_cli_masks_the_password_in_the_url_it_names(tmp_path: Path) -> None:
    port = free_port()
    done = cli(
        tmp_path,
        "init",
        CYBERLAB_STORE__BACKEND="elasticsearch",
        CYBERLAB_STORE__ELASTICSEARCH__HOSTS=f"http://cyberlab:s3cret-pw@127.0.0.1:{port}",
        CYBERLAB_STORE__ELASTICSEARCH__REQUEST_TIMEOUT="2",
    )
    assert done.returncode == 2, done.stderr
    assert f"Elasticsearch at http://cyberlab:********@127.0.0.1:{port} is unreachable" in done.stderr
    assert "s3cret-pw" not in done.stderr + done.stdout


def test_elasticsearch_down_during_a_request_is_a_taxii_503_with_retry_after(tmp_path: Path) -> None:
    """Nothing listens at the configured URL: the server still answers, in TAXII's words."""
    server = start_server(
        tmp_path,
        {},
        CYBERLAB_STORE__BACKEND="elasticsearch",
        CYBERLAB_STORE__ELASTICSEARCH__HOSTS=f"http://127.0.0.1:{free_port()}",
        CYBERLAB_STORE__ELASTICSEARCH__REQUEST_TIMEOUT="2",
    )
    try:
        response = requests.get(
            server.collection_url("public-blocklist") + "objects/", headers={"Accept": TAXII}, timeout=30
        )
        ready = requests.get(f"{server.url}/readyz", timeout=30)
    finally:
        server.stop()
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    assert response.headers["Content-Type"].startswith("application/taxii+json")
    assert response.json()["title"] == "Store unavailable"
    assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
