"""The OpenAPI description against the running server: schemathesis generates requests for every
documented operation; no answer may be a 5xx or break the description (status codes, content
types, response bodies, headers). Bounded: a fixed number of examples per operation, no shrinking
time limit, so the run stays well under a minute."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.data import CITY_INDICATOR
from tests.helpers import LiveServer, prepare_store, start_server

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


@pytest.fixture(scope="module")
def api_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    keys = prepare_store(data_dir)
    server = start_server(data_dir, keys, workers=2, CYBERLAB_RATE_LIMIT__ENABLED="false")
    # Something to find, sight and export: one city indicator, one partner sighting of it.
    server.post_objects("public-blocklist", [CITY_INDICATOR])
    yield server
    server.stop()


@pytest.fixture(scope="module")
def api_schema(api_server: LiveServer) -> Any:
    return schemathesis.openapi.from_url(f"{api_server.url}/api/v1/openapi.json")


def test_the_description_is_served_and_names_every_operation(api_server: LiveServer) -> None:
    document = requests.get(f"{api_server.url}/api/v1/openapi.json", timeout=10).json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {
        "/api/v1/search",
        "/api/v1/indicators/{object_id}",
        "/api/v1/sightings",
        "/api/v1/collections/{collection_id}/export/{name}",
        "/api/v1/check",
    }


OPERATIONS = [
    ("GET", "/api/v1/search"),
    ("GET", "/api/v1/indicators/{object_id}"),
    ("POST", "/api/v1/sightings"),
    ("GET", "/api/v1/collections/{collection_id}/export/{name}"),
    ("POST", "/api/v1/check"),
]


# schemathesis's own pytest plugin does not work with pytest 9 yet, so each operation's
# strategy is driven by Hypothesis directly: the same generation and the same checks.
# Positive: valid requests, every check. Negative: requests that break the description (wrong
# types, out-of-range numbers, bodies of the wrong shape) must still never be a 5xx, and must
# answer with a documented status and a body that fits it.
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
@pytest.mark.parametrize(("method", "path"), OPERATIONS)
def test_no_5xx_and_no_answer_breaks_the_description(
    method: str, path: str, mode: GenerationMode, api_schema: Any, api_server: LiveServer
) -> None:
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    def check(case: Any) -> None:
        case.call_and_validate(
            base_url=api_server.url, auth=api_server.auth("analyst"), checks=CHECKS, timeout=30
        )

    check()
