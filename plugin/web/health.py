"""GET /healthz: is the database reachable, and how did the last syncs go."""

from __future__ import annotations

from flask import Blueprint, jsonify

from plugin.store import schema_version
from plugin.store.sync_state import last_runs
from plugin.web.context import db, state

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def healthz():
    try:
        runs = last_runs(db())
        version = schema_version(db())
    except Exception as exc:  # the point of a health check is to report, not to crash
        return jsonify({"status": "error", "database": f"unavailable: {exc}"}), 503
    syncs = {
        run["source"]: {
            "status": run["status"],
            "finished_at": run["finished_at"],
            "records": run["accepted"],
            "rejected": run["rejected"],
            "message": run["message"] or None,
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
        }
    )
