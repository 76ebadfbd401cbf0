"""GET /healthz: is the database reachable, how did the last syncs go, and what should
an admin know (e.g. a Zendesk plan without the Events API), which worker is active, and
how many posted or imported events wait to be merged into the history (a number that keeps
growing means no worker merges them).

Anyone may ask whether the service is up; the details (sync error messages, which name
desk URLs, notices, the worker's host) go only to an admin signed in to this site or a
caller with `Authorization: Bearer <agent token>` (`journeydesk token --source <name>
--ttl <seconds>`: a monitor's long-lived token). A database that cannot take writes
(read-only file or `PRAGMA query_only`, full disk) is unhealthy: 503, `database` says why.
Its 503s carry `Retry-After` as every 503 of the app does (web/errors.py)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify

from plugin.background.worker_lease import LEASE_NAME
from plugin.intake.sync_runs import last_runs
from plugin.security import TokenError, verify_agent_token
from plugin.store import schema_version, write_problem
from plugin.store.leases import lease_holder
from plugin.store.sync_state import notices_by_source
from plugin.store.touchpoints import count_waiting
from plugin.web.access import presented_token
from plugin.web.admin.auth import admin_signed_in
from plugin.web.context import db, state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        runs = last_runs(db())
        version = schema_version(db())
        notices = notices_by_source(db())
        worker = lease_holder(db(), LEASE_NAME)
        waiting = count_waiting(db())
        problem = write_problem(db())
    except Exception as exc:  # the point of a health check is to report, not to crash
        told = f"unavailable: {exc}" if _detailed() else "unavailable"
        return jsonify({"status": "error", "database": told}), 503
    syncs = {
        run["source"]: {
            "status": run["status"],
            "finished_at": run["finished_at"],
            "records": run["accepted"],
            "rejected": run["rejected"],
            # A failure's sentence; what a successful run noted is in `notices`.
            "message": (run["message"] or None) if run["status"] != "ok" else None,
            "notices": notices.get(run["source"], []),
        }
        for run in runs
    }
    body = {
        "status": "ok",
        "database": "ok",
        "schema_version": version,
        "demo_mode": state().config.demo_mode,
        "syncs": syncs,
        "worker": {"holder": worker["holder"], "until": worker["expires_at"]} if worker else None,
        "events_waiting": waiting,
    }
    if problem is not None:  # it reads, but cannot store syncs, events or sessions
        body |= {"status": "error", "database": problem}
    return jsonify(body if _detailed() else _public(body)), 503 if problem else 200


def _detailed() -> bool:
    """May this caller see the details: a signed-in admin, or a valid agent token?"""
    try:
        if admin_signed_in(state().config):
            return True
    except Exception:  # noqa: BLE001 — an unusable database: the token may still tell
        pass
    token = presented_token()
    try:
        return token is not None and bool(verify_agent_token(state().config.secret, token))
    except TokenError:
        return False


def _public(body: dict[str, Any]) -> dict[str, Any]:
    """The answer without what only an admin should read (messages name desk URLs)."""
    syncs = {
        source: {key: value for key, value in run.items() if key not in ("message", "notices")}
        for source, run in body["syncs"].items()
    }
    worker = body["worker"] and {"until": body["worker"]["until"]}  # not its host and pid
    return body | {"syncs": syncs, "worker": worker}
