"""The demo's own pages: an index of sample tickets and a tiny help center."""

from __future__ import annotations

from flask import Blueprint, abort, render_template

from plugin.journey.model import journey_position
from plugin.store.articles import versions_of
from plugin.store.customers import count_customers
from plugin.store.journeys import stage_counts
from plugin.store.tickets import count_tickets, sample_tickets_by_stage
from plugin.store.touchpoints import count_touchpoints
from plugin.web.context import db, state

bp = Blueprint("demo", __name__)


@bp.before_request
def _demo_only() -> None:
    # These pages show sample customers: they exist only when the app runs as the demo.
    if not state().config.demo_mode:
        abort(404)


@bp.get("/")
def index():
    app_state = state()
    demo = next((c for c in app_state.config.connectors if c.type == "demo"), None)
    samples = sample_tickets_by_stage(db(), demo.name) if demo else []
    samples.sort(key=lambda s: journey_position(s["stage"]))
    stats = {
        "customers": count_customers(db()),
        "tickets": count_tickets(db()),
        "article views": count_touchpoints(db(), "article_view"),
    }
    return render_template(
        "demo/index.html",
        samples=samples,
        stats=stats,
        counts=stage_counts(db()),
        model=app_state.model,
        demo_mode=app_state.config.demo_mode,
        lang="en",
    )


@bp.get("/demo/hc/<locale>/articles/<article_slug>")
def help_center_article(locale: str, article_slug: str):
    article_id = article_slug.split("-", 1)[0]
    demo = next((c for c in state().config.connectors if c.type == "demo"), None)
    versions = versions_of(db(), demo.name, [article_id]).get(article_id, []) if demo else []
    if not versions:
        abort(404, description="No such article in the demo help center.")
    article = next((v for v in versions if v["locale"] == locale), versions[0])
    return render_template(
        "demo/article.html", article=article, versions=versions, lang=article["locale"][:2]
    )
