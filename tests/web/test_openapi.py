"""/api/v1/openapi.json stays true: every JSON route is described, and schemathesis
sends generated requests to every operation and checks each answer against it."""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from plugin.app import create_app
from plugin.security import mint_agent_token
from tests.helpers.demo_desk import INGEST_KEY

JSON_PREFIXES = ("/api/v1", "/webhooks")
EXAMPLES = 25  # per operation: enough to reach every branch of the checks, still fast
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def app(desk):
    return create_app(desk.config)


def openapi_path(rule: str) -> str:
    """Flask's `/tickets/<source>/<int:id>` as OpenAPI's `/tickets/{source}/{id}`."""
    return re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule)


def routed(app) -> dict[str, set[str]]:
    """The JSON routes of the app: path → methods (automatic OPTIONS and HEAD left out)."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(JSON_PREFIXES):
            continue
        methods = set(rule.methods or ()) - {"HEAD"}
        if rule.provide_automatic_options:
            methods.discard("OPTIONS")
        found.setdefault(openapi_path(rule.rule), set()).update(m.lower() for m in methods)
    return found


def test_every_json_route_is_described_and_nothing_else(app):
    spec = app.test_client().get("/api/v1/openapi.json").get_json()
    described = {
        path: {m for m in item if m in ("get", "post", "put", "patch", "delete", "options")}
        for path, item in spec["paths"].items()
        if path.startswith(JSON_PREFIXES)
    }
    assert routed(app) == described


def test_generated_requests_get_documented_answers(app, desk):
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    ticket = desk.tickets(1)[0]
    agent = mint_agent_token(desk.config.secret, source="demo", ticket_id=None)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 9
    for operation in operations:
        _fuzz(operation, ticket, _headers(operation.path, agent))


def _headers(path: str, agent_token: str) -> dict[str, str]:
    if path == "/api/v1/events":
        return {"Authorization": f"Bearer {INGEST_KEY}"}
    if path.startswith("/api/v1/"):
        return {"Authorization": f"Bearer {agent_token}"}
    return {}


def _fuzz(operation, ticket: str, headers: dict[str, str]) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(), real=st.booleans())
    def check(case, real: bool) -> None:
        # Half the cases name a ticket that exists, so the 200 answers are checked too.
        if real and case.path_parameters and "ticket_id" in case.path_parameters:
            case.path_parameters = {**case.path_parameters, "source": "demo", "ticket_id": ticket}
        case.call_and_validate(headers=headers, checks=CHECKS)

    check()
