"""The sidebar page, server-rendered for a 320 px iframe."""

from __future__ import annotations

import re

import pytest
from markupsafe import escape

from plugin.security import mint_agent_token
from tests.helpers.config import SECRET
from tests.web.test_api_journey import ticket_ids

pytestmark = pytest.mark.usefixtures("backend")


def test_sidebar_renders_the_same_journey_as_the_api(client, seeded_demo):
    for ticket_id in ticket_ids(seeded_demo, 10):
        token = mint_agent_token(SECRET, source="demo", ticket_id=ticket_id)
        api = client.get(f"/api/v1/tickets/demo/{ticket_id}/journey?token={token}").get_json()
        html = client.get(f"/sidebar/demo/{ticket_id}?token={token}").get_data(as_text=True)
        assert f'data-stage="{api["stage"]["key"]}"' in html
        titles = re.findall(r'class="article-title"[^>]*>([^<]*)</a>', html)
        assert len(titles) == len(api["articles_before_ticket"])
        for reason in api["stage"]["reasons"]:
            assert str(escape(reason)) in html
        # One level-one heading (for screen readers; the badge is the visible title)
        assert len(re.findall(r"<h1[ >]", html)) == 1 and '<main id="jd-journey">' in html


def test_sidebar_without_token_is_a_401_page(client, seeded_demo):
    ticket_id = ticket_ids(seeded_demo, 1)[0]
    response = client.get(f"/sidebar/demo/{ticket_id}")
    assert response.status_code == 401
    assert "text/html" in response.content_type
    assert "customer" not in response.get_data(as_text=True).lower()


def test_demo_index_lists_a_ticket_in_every_stage(app, client):
    import dataclasses

    from plugin.app import create_app

    demo_app = create_app(dataclasses.replace(app.extensions["journeydesk"].config, demo_mode=True))
    html = demo_app.test_client().get("/").get_data(as_text=True)
    stages = set(re.findall(r'<article class="card" data-stage="(\w+)"', html))
    assert stages == {"awareness", "consideration", "purchase", "service", "retention", "advocacy"}
    assert html.count('class="sidebar-link"') == 6
    assert 'href="/admin/"' in html  # the demo's admin is open: the index leads there
