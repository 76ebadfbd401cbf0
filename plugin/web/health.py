"""GET /healthz: is the database reachable, how did the last syncs go, and what should
an admin know (e.g. a Zendesk plan without the Events API), which worker is active, and
how many posted or imported events wait to be merged into the history (a number that keeps
growing means no worker merges them)."""

from __future__ import annotations

from flask import Blueprint, jsonify

from plugin.store import schema_version
from plugin.store.leases import lease_holder
from plugin.store.notices import notices_by_source
from plugin.store.touchpoints import count_waiting
from plugin.sync_runs import last_runs
from plugin.web.context import db, state
from plugin.worker_lease import LEASE_NAME

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        runs = last_runs(db())
        version = schema_version(db())
        notices = notices_by_source(db())
        worker = lease_holder(db(), LEASE_NAME)
        waiting = count_waiting(db())
    except Exception as exc:  # the point of a health check is to report, not to crash
        return jsonify({"status": "error", "database": f"unavailable: {exc}"}), 503
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
    return jsonify(
        {
            "status": "ok",
            "database": "ok",
            "schema_version": version,
            "demo_mode": state().config.demo_mode,
            "syncs": syncs,
            "worker": {"holder": worker["holder"], "until": worker["expires_at"]}
            if worker
            else None,
            "events_waiting": waiting,
        }
    )
