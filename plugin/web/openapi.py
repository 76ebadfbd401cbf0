"""GET /api/v1/openapi.json: an OpenAPI 3.1 description of the whole JSON API.

The description is a plain dict kept beside the code; `tests/web/test_openapi.py`
keeps it true: every /api/v1 and /webhooks route must be described, and schemathesis
sends generated requests to each and checks every answer against it (no 5xx, the
documented status codes, content types and bodies).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

bp = Blueprint("openapi", __name__)

_NULLABLE_STRING = {"type": ["string", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict[str, Any]:
    """The documented error answers (all share the error body)."""
    reasons = {
        400: "The request is malformed (the message says how).",
        401: "No valid credentials (agent token, ingest key, app secret or signature).",
        403: "The credentials do not allow this (another ticket, an origin not allowed).",
        404: "No such ticket, customer or source.",
        405: "The method is not allowed on this path.",
        410: "The help desk deleted this ticket.",
        413: "The body is too large.",
        415: "The body is not JSON.",
        429: "Too many requests for this key; see Retry-After.",
        502: "The help desk failed to answer.",
        503: "The database or the help desk is unavailable right now; see Retry-After.",
    }
    return {str(s): _json(_ref("Error"), reasons[s]) for s in statuses}


_AGENT = [{"agentToken": []}, {"agentTokenQuery": []}]
_TICKET_PARAMS = [
    {
        "name": "source",
        "in": "path",
        "required": True,
        "description": "The connector name (`[[connectors]] name`).",
        "schema": {"type": "string"},
    },
    {
        "name": "ticket_id",
        "in": "path",
        "required": True,
        "description": "The help desk's ticket id.",
        "schema": {"type": "string"},
    },
]
_LANG = {
    "name": "lang",
    "in": "query",
    "required": False,
    "description": "Language of labels and reasons (en, es); else Accept-Language.",
    "schema": {"type": "string"},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
            }
        },
    },
    "Customer": {
        "type": "object",
        "required": ["id", "name", "email", "signup_at"],
        "properties": {
            "id": {"type": "string"},
            "name": _NULLABLE_STRING,
            "email": _NULLABLE_STRING,
            "signup_at": _TIME,
            "plan": _NULLABLE_STRING,
            "locale": _NULLABLE_STRING,
            "anonymous": {"type": "boolean"},
            "has_activity": {"type": "boolean"},
        },
    },
    "Stage": {
        "type": "object",
        "required": ["key", "label", "since", "reasons"],
        "properties": {
            "key": {"type": "string"},
            "label": {"type": "string"},
            "since": _TIME,
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    },
    "Signal": {
        "type": "object",
        "required": ["key", "label", "reasons"],
        "properties": {
            "key": {"type": "string"},
            "label": {"type": "string"},
            "reasons": {"type": "array", "items": {"type": "string"}},
        },
    },
    "ArticleRead": {
        "type": "object",
        "required": ["article_id", "title", "url", "viewed_at", "minutes_before_ticket", "views"],
        "properties": {
            "article_id": {"type": "string"},
            "source": {"type": "string"},
            "title": {"type": "string"},
            "url": _NULLABLE_STRING,
            "locale": _NULLABLE_STRING,
            "category": _NULLABLE_STRING,
            "viewed_at": {"type": "string", "format": "date-time"},
            "minutes_before_ticket": {"type": "integer"},
            "views": {"type": "integer", "minimum": 1},
        },
    },
    "TimelineItem": {
        "type": "object",
        "required": ["type", "at"],
        "properties": {
            "type": {"type": "string"},
            "at": {"type": "string", "format": "date-time"},
            "channel": _NULLABLE_STRING,
            "title": _NULLABLE_STRING,
            "url": _NULLABLE_STRING,
            "ticket_id": _NULLABLE_STRING,
            "properties": {"type": "object"},
        },
    },
    "OpenTicket": {
        "type": "object",
        "required": ["source", "id", "subject", "status", "created_at"],
        "properties": {
            "source": {"type": "string"},
            "id": {"type": "string"},
            "subject": {"type": "string"},
            "status": {"type": "string"},
            "created_at": _TIME,
        },
    },
    "Effort": {
        "type": ["object", "null"],
        "description": "Reading and contacts in the `days` before the ticket; null on a "
        "customer journey built for a ticket's payload. `level` is `high` exactly when the "
        "journey model's `high_effort` signal is on (the one definition of high effort; earlier "
        "releases used thresholds of their own), else `medium` for 3+ articles or 2+ contacts, "
        "else `low`.",
        "properties": {
            "days": {"type": "integer"},
            "articles": {"type": "integer"},
            "views": {"type": "integer"},
            "searches": {"type": "integer"},
            "contacts": {"type": "integer"},
            "level": {"type": "string", "enum": ["low", "medium", "high"]},
        },
    },
    "OutreachReceived": {
        "type": "object",
        "description": "A proactive message the customer received (sent) or may have "
        "received (uncertain: the run stopped before recording the outcome).",
        "required": ["at", "rule", "channel", "subject", "status"],
        "properties": {
            "at": _TIME,
            "rule": {"type": "string"},
            "channel": {"type": "string", "enum": ["email", "helpdesk"]},
            "subject": _NULLABLE_STRING,
            "status": {"type": "string", "enum": ["sent", "uncertain"]},
        },
    },
    "SlaDecision": {
        "type": ["object", "null"],
        "description": "What SLA rules decided when the ticket first appeared (docs/sla.md); "
        "null when the ticket has no decision (it existed before the desk was connected, it "
        "arrived solved, or no SLA rule was in force).",
        "required": ["rule", "change", "reasons", "summary", "decided_at"],
        "properties": {
            "rule": {
                "type": ["string", "null"],
                "description": "The rule that matched (first match wins); null: none matched.",
            },
            "change": {
                "type": ["string", "null"],
                "enum": ["raised", "lowered", "set", "kept", None],
                "description": "What happened to the priority; null when no rule matched or "
                "the ticket has no priority either way.",
            },
            "priority_before": _NULLABLE_STRING,
            "priority_after": _NULLABLE_STRING,
            "tags_added": {"type": "array", "items": {"type": "string"}},
            "targets": {
                "type": "object",
                "properties": {
                    "first_response_minutes": {"type": ["integer", "null"]},
                    "resolution_minutes": {"type": ["integer", "null"]},
                    "first_response_due": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "When the first reply is due, on the desk's business "
                        "hours (null without that target).",
                    },
                    "resolution_due": {
                        "type": ["string", "null"],
                        "format": "date-time",
                        "description": "When the resolution is due (null without that target).",
                    },
                },
            },
            "reasons": {
                "type": "array",
                "items": {"type": "string"},
                "description": "Why the rule matched, phrased like the stage's reasons.",
            },
            "summary": {
                "type": "string",
                "description": "The decision as one sentence in the request's language, e.g. "
                '"Priority raised to urgent: stage is "purchase", renewal in 12 days '
                '(≤ 30); first reply within 1 h, resolution within 8 h".',
            },
            "decided_at": _TIME,
        },
    },
    "CustomerJourney": {
        "type": "object",
        "required": ["customer", "stage", "signals", "articles_before_ticket", "timeline"],
        "properties": {
            "customer": _ref("Customer"),
            "stage": _ref("Stage"),
            "signals": {"type": "array", "items": _ref("Signal")},
            "articles_before_ticket": {"type": "array", "items": _ref("ArticleRead")},
            "timeline": {"type": "array", "items": _ref("TimelineItem")},
            "open_tickets": {"type": "array", "items": _ref("OpenTicket")},
            "outreach": {
                "type": "array",
                "description": "Proactive messages the customer received in the last 30 "
                "days, newest first (at most 10): what they were already told. Webhook "
                "alerts to the team are not listed.",
                "items": _ref("OutreachReceived"),
            },
            "effort": _ref("Effort"),
            "reading_earlier": {
                "type": ["object", "null"],
                "properties": {
                    "articles": {"type": "integer"},
                    "last_viewed_at": _TIME,
                },
            },
        },
    },
    "TicketJourney": {
        "allOf": [
            _ref("CustomerJourney"),
            {
                "type": "object",
                "required": ["ticket", "sla"],
                "properties": {
                    "ticket": {
                        "type": "object",
                        "required": ["source", "id", "subject", "created_at"],
                        "properties": {
                            "source": {"type": "string"},
                            "id": {"type": "string"},
                            "subject": {"type": "string"},
                            "status": {"type": "string"},
                            "channel": _NULLABLE_STRING,
                            "created_at": _TIME,
                        },
                    },
                    "sla": _ref("SlaDecision"),
                    "freshness": {
                        "type": "object",
                        "required": ["stale", "reason"],
                        "properties": {
                            "stale": {"type": "boolean"},
                            "fetched_at": _TIME,
                            "reason": {"type": "string"},
                        },
                    },
                },
            },
        ]
    },
    "Warning": {
        "type": "object",
        "required": ["article_id", "title", "message", "views", "last_viewed_at"],
        "properties": {
            "article_id": {"type": "string"},
            "source": {"type": "string"},
            "title": {"type": "string"},
            "url": _NULLABLE_STRING,
            "link": {"type": "string"},
            "message": {"type": "string"},
            "severity": {"type": "string", "enum": ["strong", "soft"]},
            "views": {"type": "integer"},
            "views_before_ticket": {"type": "integer"},
            "last_viewed_at": _TIME,
            "before_ticket": {"type": "boolean"},
            "updated_since_read": {"type": "boolean"},
            "updated_at": _TIME,
            "alternatives": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "article_id": {"type": "string"},
                        "title": {"type": "string"},
                        "url": _NULLABLE_STRING,
                    },
                },
            },
        },
    },
    "Event": {
        "type": "object",
        "description": "A portal event: article_view, search, identify or a custom type.",
        "required": ["id", "type", "customer"],
        "properties": {
            "id": {"type": "string", "maxLength": 200},
            "type": {"type": "string"},
            "occurred_at": {"type": "string", "format": "date-time"},
            "customer": {
                "type": "object",
                "description": "At least one of email, external_id, anonymous_id.",
                "properties": {
                    "email": {"type": "string"},
                    "external_id": {"type": "string"},
                    "anonymous_id": {"type": "string"},
                },
            },
            "article": {
                "type": "object",
                "properties": {
                    "id": {"type": "string"},
                    "url": {"type": "string"},
                    "title": {"type": "string"},
                    "locale": {"type": "string"},
                },
            },
            "properties": {"type": "object"},
        },
    },
    "IngestAnswer": {
        "type": "object",
        "required": ["accepted", "duplicates", "rejected"],
        "properties": {
            "accepted": {"type": "integer", "minimum": 0},
            "duplicates": {"type": "integer", "minimum": 0},
            "rejected": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["index", "error"],
                    "properties": {"index": {"type": "integer"}, "error": {"type": "string"}},
                },
            },
            "warnings": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {"index": {"type": "integer"}, "warning": {"type": "string"}},
                },
            },
        },
    },
    "WebhookAnswer": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {
                "type": "string",
                "enum": ["fetched", "accepted", "ticket_not_found", "ignored"],
            },
            "source": {"type": "string"},
            "ticket_id": {"type": "string"},
            "reason": {"type": "string"},
            "customer_id": _NULLABLE_STRING,
            "history": {"type": "string"},
            "history_records": {"type": "integer"},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database"],
        "properties": {
            "status": {"type": "string"},
            "database": {"type": "string"},
            "schema_version": {"type": "integer"},
            "demo_mode": {"type": "boolean"},
            "syncs": {"type": "object"},
            "worker": {"type": ["object", "null"]},
            "events_waiting": {
                "type": "integer",
                "minimum": 0,
                "description": "Posted or imported events not merged into the history yet "
                "(readable already; the worker merges them every few seconds).",
            },
        },
    },
}

PATHS: dict[str, Any] = {
    "/healthz": {
        "get": {
            "summary": "Database and last-sync status",
            "operationId": "health",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), "Everything works."),
                "503": _json(
                    _ref("Health"),
                    "The database is unavailable, read-only or full; see Retry-After.",
                ),
            },
        }
    },
    "/api/v1/openapi.json": {
        "get": {
            "summary": "This description",
            "operationId": "openapi",
            "security": [],
            "responses": {"200": _json({"type": "object"}, "The OpenAPI document.")},
        }
    },
    "/api/v1/tickets/{source}/{ticket_id}/journey": {
        "get": {
            "summary": "The sidebar data of a ticket",
            "description": "Stage with reasons, signals, the articles read before the ticket "
            "(newest first, any locale counted as the article), the timeline, open tickets, "
            "effort, and how fresh the history is (DESIGN §4).",
            "operationId": "ticketJourney",
            "security": _AGENT,
            "parameters": [*_TICKET_PARAMS, _LANG],
            "responses": {
                "200": _json(_ref("TicketJourney"), "The journey."),
                **_errors(401, 403, 404, 410, 502, 503),
            },
        }
    },
    "/api/v1/customers/{customer_id}/journey": {
        "get": {
            "summary": "A customer's journey without a ticket (source-wide tokens only)",
            "operationId": "customerJourney",
            "security": _AGENT,
            "parameters": [
                {
                    "name": "customer_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 0},
                },
                _LANG,
            ],
            "responses": {
                "200": _json(_ref("CustomerJourney"), "The journey."),
                **_errors(401, 403, 404, 503),
            },
        }
    },
    "/api/v1/tickets/{source}/{ticket_id}/check-reply": {
        "post": {
            "summary": "The already-read guard: warnings for a reply draft",
            "description": "Finds every help-center article the draft links to (any desk URL "
            "form, any locale) and warns for each one the customer already read.",
            "operationId": "checkReply",
            "security": _AGENT,
            "parameters": [*_TICKET_PARAMS, _LANG],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["body"],
                            "properties": {
                                "body": {
                                    "type": "string",
                                    "minLength": 1,
                                    "description": "The reply draft, HTML or text (≤ 100 kB).",
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["warnings", "links", "unread"],
                        "properties": {
                            "warnings": {"type": "array", "items": _ref("Warning")},
                            "links": {"type": "integer", "minimum": 0},
                            "unread": {
                                "type": "array",
                                "description": "The linked articles the customer has not "
                                "read, once each: fine to send.",
                                "items": {
                                    "type": "object",
                                    "required": ["article_id", "title", "url"],
                                    "properties": {
                                        "article_id": {"type": "string"},
                                        "title": _NULLABLE_STRING,
                                        "url": {"type": "string"},
                                    },
                                },
                            },
                        },
                    },
                    "The warnings (empty when nothing linked was read) and the all-clear.",
                ),
                **_errors(400, 401, 403, 404, 413, 503),
            },
        }
    },
    "/api/v1/tickets/{source}/{ticket_id}/guard-outcome": {
        "post": {
            "summary": "What the agent did about the guard's warnings (for the reports)",
            "description": "Called by the desk apps when the agent clicks Send anyway "
            "(`sent_anyway`) or Edit reply (`edited`). Closes the open warnings of the named "
            "articles on this ticket; `recorded` is how many were open (0 for a repeat).",
            "operationId": "guardOutcome",
            "security": _AGENT,
            "parameters": [*_TICKET_PARAMS],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["outcome", "articles"],
                            "properties": {
                                "outcome": {"type": "string", "enum": ["sent_anyway", "edited"]},
                                "articles": {
                                    "type": "array",
                                    "minItems": 1,
                                    "maxItems": 50,
                                    "description": "The warnings' own `source` and `article_id`.",
                                    "items": {
                                        "type": "object",
                                        "required": ["source", "article_id"],
                                        "properties": {
                                            "source": {"type": "string", "maxLength": 200},
                                            "article_id": {"type": "string", "maxLength": 200},
                                        },
                                    },
                                },
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["outcome", "recorded"],
                        "properties": {
                            "outcome": {"type": "string"},
                            "recorded": {"type": "integer", "minimum": 0},
                        },
                    },
                    "The outcome, and how many open warnings it closed.",
                ),
                **_errors(400, 401, 403, 404, 413, 503),
            },
        }
    },
    "/api/v1/tickets/{source}/{ticket_id}/articles/search": {
        "get": {
            "summary": "Search the knowledge base, each result marked read or not",
            "operationId": "searchArticles",
            "security": _AGENT,
            "parameters": [
                *_TICKET_PARAMS,
                {
                    "name": "q",
                    "in": "query",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                },
            ],
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["query", "results"],
                        "properties": {
                            "query": {"type": "string"},
                            "results": {"type": "array", "items": {"type": "object"}},
                        },
                    },
                    "The matching articles, best first.",
                ),
                **_errors(400, 401, 403, 404, 503),
            },
        }
    },
    "/api/v1/events": {
        "post": {
            "summary": "Ingest portal events (the snippet, or a server), idempotent by id",
            "operationId": "ingestEvents",
            "security": [{"ingestKey": []}, {"ingestKeyQuery": []}],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["events"],
                            "properties": {
                                "events": {
                                    "type": "array",
                                    "maxItems": 1000,
                                    "items": _ref("Event"),
                                }
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(_ref("IngestAnswer"), "What was stored, skipped and refused."),
                **_errors(400, 401, 403, 413, 429, 503),
            },
        },
        "options": {
            "summary": "CORS preflight for the portal snippet",
            "operationId": "ingestPreflight",
            "security": [],
            "responses": {
                "204": {"description": "The origin may post events."},
                **_errors(403),
            },
        },
    },
    "/api/v1/desk-token/{source}": {
        "post": {
            "summary": "A ticket-scoped agent token for the Freshdesk app (server-side call)",
            "operationId": "deskToken",
            "security": [{"appSecret": []}],
            "parameters": [_TICKET_PARAMS[0]],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["ticket_id"],
                            "properties": {"ticket_id": {"type": ["string", "integer"]}},
                        }
                    }
                },
            },
            "responses": {
                "200": _json(
                    {
                        "type": "object",
                        "required": ["token", "expires_in", "ticket_id"],
                        "properties": {
                            "token": {"type": "string"},
                            "expires_in": {"type": "integer"},
                            "ticket_id": {"type": "string"},
                        },
                    },
                    "The token.",
                ),
                **_errors(400, 401),
            },
        }
    },
    "/webhooks/{source}": {
        "post": {
            "summary": "A ticket was created or updated: fetch it and its requester's history",
            "description": 'Body `{"ticket_id": "123"}` or Zendesk\'s event shape `{"type": '
            '"zen:event-type:ticket.created", "detail": {"id": "123"}}`, signed with the '
            "connector's webhook secret (Zendesk's headers, else X-Journeydesk-Signature).",
            "operationId": "webhook",
            "security": [{"zendeskSignature": []}, {"journeydeskSignature": []}],
            "parameters": [_TICKET_PARAMS[0]],
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                "ticket_id": {"type": ["string", "integer"]},
                                "type": {"type": "string"},
                                "detail": {"type": "object"},
                            },
                        }
                    }
                },
            },
            "responses": {
                "200": _json(_ref("WebhookAnswer"), "Fetched (or not a ticket event)."),
                "202": _json(_ref("WebhookAnswer"), "Still fetching, in the background."),
                **_errors(400, 401, 403, 404, 413, 502, 503),
            },
        }
    },
}

SPEC: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "journeydesk",
        "version": "1",
        "description": "The customer's journey beside every help desk ticket: the agent API "
        "(journeys, the already-read guard, article search), the portal ingest API and the "
        'help desks\' webhooks. Errors are `{"error": {"code", "message"}}`.',
    },
    "paths": PATHS,
    "components": {
        "schemas": SCHEMAS,
        "securitySchemes": {
            "agentToken": {
                "type": "http",
                "scheme": "bearer",
                "description": "A signed agent token (`journeydesk token`, or the desk apps).",
            },
            "agentTokenQuery": {"type": "apiKey", "in": "query", "name": "token"},
            "ingestKey": {"type": "http", "scheme": "bearer", "description": "An ingest key."},
            "ingestKeyQuery": {
                "type": "apiKey",
                "in": "query",
                "name": "key",
                "description": "The ingest key, for navigator.sendBeacon (no headers).",
            },
            "appSecret": {
                "type": "http",
                "scheme": "bearer",
                "description": "The Freshdesk app secret (app_secret_env).",
            },
            "zendeskSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Zendesk-Webhook-Signature",
                "description": "With X-Zendesk-Webhook-Signature-Timestamp (HMAC-SHA256).",
            },
            "journeydeskSignature": {
                "type": "apiKey",
                "in": "header",
                "name": "X-Journeydesk-Signature",
                "description": "t=<unix time>,v1=<hex HMAC-SHA256 of t.body> (other desks).",
            },
        },
    },
}


@bp.get("/api/v1/openapi.json")
def openapi_json():
    return jsonify(SPEC)
