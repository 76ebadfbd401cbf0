"""Schema of the journeydesk store, as forward migrations applied at start-up.

Times are INTEGER epoch seconds (UTC): compact, fast to compare and index.
JSON columns hold small documents (attributes, reasons, properties).
Never edit an applied migration; add the next one.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database, Migrations

from plugin.clock import now_epoch

migrations = Migrations("journeydesk")


def _run(db: Database, script: str) -> None:
    """Run each statement inside the migration's transaction (executescript would commit)."""
    statement = ""
    for line in (script + ";").splitlines(keepends=True):
        statement += line
        if sqlite3.complete_statement(statement):
            if statement.strip(" \n;"):
                db.execute(statement)
            statement = ""


@migrations(name="0001_initial")
def initial(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE customers (
            id INTEGER PRIMARY KEY,
            name TEXT,
            email TEXT,
            signup_at INTEGER,
            purchased_at INTEGER,
            renewal_at INTEGER,
            plan TEXT,
            lifetime_value REAL,
            time_zone TEXT,
            locale TEXT,
            attributes TEXT NOT NULL DEFAULT '{}',
            merged_into INTEGER REFERENCES customers(id),
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL
        );
        -- kind: email | external_id | anonymous | user:<source> (emails lower-cased)
        CREATE TABLE customer_identities (
            kind TEXT NOT NULL,
            value TEXT NOT NULL,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            PRIMARY KEY (kind, value)
        ) WITHOUT ROWID;
        CREATE INDEX customer_identities_customer ON customer_identities(customer_id);
        CREATE TABLE customer_merges (
            id INTEGER PRIMARY KEY,
            from_customer_id INTEGER NOT NULL,
            into_customer_id INTEGER NOT NULL REFERENCES customers(id),
            reason TEXT NOT NULL,
            merged_at INTEGER NOT NULL
        );
        -- one row per locale; group_id is the article all translations count as
        CREATE TABLE articles (
            source TEXT NOT NULL,
            article_id TEXT NOT NULL,
            locale TEXT NOT NULL,
            group_id TEXT NOT NULL,
            title TEXT NOT NULL,
            url TEXT NOT NULL,
            section TEXT,
            category TEXT,
            updated_at INTEGER,
            draft INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, article_id, locale)
        ) WITHOUT ROWID;
        CREATE INDEX articles_group ON articles(source, group_id);
        CREATE TABLE tickets (
            source TEXT NOT NULL,
            id TEXT NOT NULL,
            customer_id INTEGER REFERENCES customers(id),
            subject TEXT NOT NULL,
            status TEXT NOT NULL,
            priority TEXT,
            channel TEXT,
            tags TEXT NOT NULL DEFAULT '[]',
            created_at INTEGER NOT NULL,
            updated_at INTEGER,
            solved_at INTEGER,
            first_response_at INTEGER,
            csat_score TEXT,
            csat_comment TEXT,
            deleted INTEGER NOT NULL DEFAULT 0,
            PRIMARY KEY (source, id)
        ) WITHOUT ROWID;
        CREATE INDEX tickets_customer ON tickets(customer_id, created_at);
        -- source + event_id make every touchpoint idempotent,
        -- article_id is the article's group id within article_source
        CREATE TABLE touchpoints (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            event_id TEXT NOT NULL,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            type TEXT NOT NULL,
            occurred_at INTEGER NOT NULL,
            channel TEXT,
            article_source TEXT,
            article_id TEXT,
            article_locale TEXT,
            article_title TEXT,
            article_url TEXT,
            ticket_id TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            UNIQUE (source, event_id)
        );
        CREATE INDEX touchpoints_customer ON touchpoints(customer_id, occurred_at);
        -- covering index of the sidebar's "articles read before the ticket" query
        CREATE INDEX touchpoints_article_views
            ON touchpoints(customer_id, occurred_at, article_source, article_id,
                           article_locale, type)
            WHERE type = 'article_view';
        CREATE TABLE sync_cursors (
            source TEXT NOT NULL,
            stream TEXT NOT NULL,
            scope TEXT NOT NULL DEFAULT '',
            cursor TEXT,
            updated_at INTEGER NOT NULL,
            PRIMARY KEY (source, stream, scope)
        ) WITHOUT ROWID
        """,
    )


@migrations(name="0002_journey_state")
def journey_state(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE customer_journeys (
            customer_id INTEGER PRIMARY KEY REFERENCES customers(id),
            stage TEXT NOT NULL,
            stage_since INTEGER NOT NULL,
            reasons TEXT NOT NULL DEFAULT '[]',
            signals TEXT NOT NULL DEFAULT '[]',
            computed_at INTEGER NOT NULL
        );
        CREATE INDEX customer_journeys_stage ON customer_journeys(stage);
        CREATE TABLE stage_history (
            id INTEGER PRIMARY KEY,
            customer_id INTEGER NOT NULL REFERENCES customers(id),
            from_stage TEXT,
            to_stage TEXT NOT NULL,
            at INTEGER NOT NULL,
            reasons TEXT NOT NULL DEFAULT '[]'
        );
        CREATE INDEX stage_history_customer ON stage_history(customer_id, at);
        -- customers whose facts may have changed since the last recompute
        CREATE TABLE dirty_customers (
            customer_id INTEGER PRIMARY KEY,
            marked_at INTEGER NOT NULL
        )
        """,
    )


@migrations(name="0003_sync_runs")
def sync_runs(db: Database) -> None:
    _run(
        db,
        """
        CREATE TABLE sync_runs (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            started_at INTEGER NOT NULL,
            finished_at INTEGER,
            status TEXT NOT NULL,
            accepted INTEGER NOT NULL DEFAULT 0,
            rejected INTEGER NOT NULL DEFAULT 0,
            message TEXT
        );
        CREATE INDEX sync_runs_source ON sync_runs(source, started_at);
        CREATE TABLE rejections (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            stream TEXT NOT NULL,
            at INTEGER NOT NULL,
            reason TEXT NOT NULL
        )
        """,
    )


@migrations(name="0004_rule_sets")
def rule_sets(db: Database) -> None:
    _run(
        db,
        """
        -- versioned rule sets edited in the admin; kind: journey | outreach | sla.
        -- A version is never changed: saving or restoring appends the next version.
        CREATE TABLE rule_sets (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            version INTEGER NOT NULL,
            definitions TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            created_by TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            UNIQUE (kind, version)
        )
        """,
    )


@migrations(name="0005_article_search")
def article_search(db: Database) -> None:
    _run(
        db,
        """
        -- Full-text search over the knowledge base (sidebar article search). A standalone
        -- FTS5 table kept in step by triggers: `articles` is WITHOUT ROWID, so it cannot
        -- be an external-content table. Re-indexing only when the text changed keeps the
        -- (unindexed-column) delete off the hot path of a re-sync.
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, section, category,
            source UNINDEXED, article_id UNINDEXED, locale UNINDEXED,
            tokenize = 'unicode61 remove_diacritics 2'
        );
        INSERT INTO articles_fts (title, section, category, source, article_id, locale)
            SELECT title, coalesce(section, ''), coalesce(category, ''), source, article_id,
                   locale FROM articles;
        CREATE TRIGGER articles_fts_insert AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts (title, section, category, source, article_id, locale)
            VALUES (new.title, coalesce(new.section, ''), coalesce(new.category, ''),
                    new.source, new.article_id, new.locale);
        END;
        CREATE TRIGGER articles_fts_update AFTER UPDATE ON articles
        WHEN old.title IS NOT new.title OR old.section IS NOT new.section
          OR old.category IS NOT new.category BEGIN
            DELETE FROM articles_fts WHERE source = old.source
                AND article_id = old.article_id AND locale = old.locale;
            INSERT INTO articles_fts (title, section, category, source, article_id, locale)
            VALUES (new.title, coalesce(new.section, ''), coalesce(new.category, ''),
                    new.source, new.article_id, new.locale);
        END;
        CREATE TRIGGER articles_fts_delete AFTER DELETE ON articles BEGIN
            DELETE FROM articles_fts WHERE source = old.source
                AND article_id = old.article_id AND locale = old.locale;
        END;
        -- "most read in this section lately" (reply-guard alternatives): counts one
        -- article's recent views without touching any other row
        CREATE INDEX touchpoints_article_popularity
            ON touchpoints(article_source, article_id, occurred_at)
            WHERE type = 'article_view'
        """,
    )


@migrations(name="0006_fetches_notices_leases")
def fetches_notices_leases(db: Database) -> None:
    _run(
        db,
        """
        -- when a desk user's reading history was last fetched on demand (webhook, sidebar);
        -- syncs leave their mark in sync_cursors (stream touchpoints, scope = user id)
        CREATE TABLE customer_fetches (
            source TEXT NOT NULL,
            user_id TEXT NOT NULL,
            fetched_at INTEGER NOT NULL,
            PRIMARY KEY (source, user_id)
        ) WITHOUT ROWID;
        -- what the last sync of a source said an admin should know (e.g. no Events API)
        CREATE TABLE source_notices (
            source TEXT NOT NULL,
            notice TEXT NOT NULL,
            since INTEGER NOT NULL,
            PRIMARY KEY (source, notice)
        ) WITHOUT ROWID;
        -- one holder per name at a time (the worker that runs scheduled jobs)
        CREATE TABLE leases (
            name TEXT PRIMARY KEY,
            holder TEXT NOT NULL,
            acquired_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
    )


@migrations(name="0007_journey_upkeep")
def journey_upkeep(db: Database) -> None:
    _run(
        db,
        """
        -- the model (a fingerprint of its definitions) the last full recompute used: a
        -- changed config.toml model is noticed at the next run and recomputes everyone
        CREATE TABLE journey_model_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            fingerprint TEXT NOT NULL,
            computed_at INTEGER NOT NULL
        );
        -- stage transitions per period (dashboard, reports)
        CREATE INDEX stage_history_at ON stage_history(at)
        """,
    )


@migrations(name="0008_timeline_pushes")
def timeline_pushes(db: Database) -> None:
    _run(
        db,
        """
        -- article views written back to a desk's contact timeline, once each
        -- (outcome: pushed | refused); see plugin/intake/write_back.py
        CREATE TABLE timeline_pushes (
            touchpoint_id INTEGER PRIMARY KEY REFERENCES touchpoints(id) ON DELETE CASCADE,
            outcome TEXT NOT NULL,
            at INTEGER NOT NULL
        )
        """,
    )


@migrations(name="0009_one_customer_index")
def one_customer_index(db: Database) -> None:
    _run(
        db,
        """
        -- Every touchpoint written updated two indexes keyed by customer (a random page
        -- each): touchpoints_customer and the partial covering touchpoints_article_views.
        -- One covering index over all types serves both: the views' queries filter on
        -- its `type` column, the others use its (customer_id, occurred_at) prefix. About
        -- a third fewer pages written per ingested event (benchmarks/limits.md); takes
        -- ~2 minutes on 28M touchpoints.
        DROP INDEX touchpoints_customer;
        DROP INDEX touchpoints_article_views;
        CREATE INDEX touchpoints_article_views
            ON touchpoints(customer_id, occurred_at, article_source, article_id,
                           article_locale, type)
        """,
    )


@migrations(name="0010_touchpoint_inbox")
def touchpoint_inbox(db: Database) -> None:
    _run(
        db,
        """
        -- Ingested and imported events land here first and are merged into `touchpoints`
        -- in large batches sorted by customer (store/touchpoints.py merge_inbox): an
        -- insert here touches a few cached pages instead of random leaves of a
        -- 20M-row table. Every touchpoint read covers both tables. Same columns as
        -- touchpoints; customer_id is not a foreign key (it is checked at the merge,
        -- where sorted rows make the check cheap).
        CREATE TABLE touchpoint_inbox (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            event_id TEXT NOT NULL,
            customer_id INTEGER NOT NULL,
            type TEXT NOT NULL,
            occurred_at INTEGER NOT NULL,
            channel TEXT,
            article_source TEXT,
            article_id TEXT,
            article_locale TEXT,
            article_title TEXT,
            article_url TEXT,
            ticket_id TEXT,
            properties TEXT NOT NULL DEFAULT '{}',
            UNIQUE (source, event_id)
        );
        -- the shape of touchpoints_article_views, so each per-customer read has its twin.
        -- No popularity index: each batch would rewrite a leaf per article it names (a
        -- third of the cost of ingesting), while article counts read the small inbox
        -- once per ranking (store/knowledge.py popular_in).
        CREATE INDEX touchpoint_inbox_customer
            ON touchpoint_inbox(customer_id, occurred_at, article_source, article_id,
                                article_locale, type)
        """,
    )


@migrations(name="0011_access_state")
def access_state(db: Database) -> None:
    # Only new tables: nothing existing is touched, so no row can be lost.
    _run(
        db,
        """
        -- signed-in admin sessions: the cookie names one (by its hash); logout deletes it,
        -- so a copied cookie stops working at once, in every worker (plugin/web/admin/auth.py)
        CREATE TABLE admin_sessions (
            id_hash TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        ) WITHOUT ROWID;
        -- failed admin logins per bucket (an address, or a known browser's device cookie)
        CREATE TABLE login_failures (
            bucket TEXT NOT NULL,
            at INTEGER NOT NULL
        );
        CREATE INDEX login_failures_bucket ON login_failures(bucket, at);
        -- signed webhook deliveries seen within their replay window (plugin/web/webhooks.py)
        CREATE TABLE webhook_deliveries (
            source TEXT NOT NULL,
            delivery TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (source, delivery)
        ) WITHOUT ROWID;
        CREATE INDEX webhook_deliveries_expiry ON webhook_deliveries(expires_at)
        """,
    )


_CLICKED = (
    "'article_search_result_clicked', 'article_instant_search_result_clicked', "
    "'suggested_article_clicked'"
)


@migrations(name="0012_zendesk_clicks_are_searches")
def zendesk_clicks_are_searches(db: Database) -> None:
    # Zendesk syncs stored clicks on a search result or suggested article as article
    # views, so the view the click led to counted twice. They carry the Guide event type
    # in properties.zendesk_event: re-type them as the search touchpoints a sync now
    # writes (properties.result_click, the article they chose), and have their customers'
    # stages recomputed. One walk of the history (~1 min on 28M touchpoints).
    for table in ("touchpoints", "touchpoint_inbox"):
        clicks = (
            f"FROM {table} WHERE type = 'article_view' AND properties LIKE '%_clicked%' "
            f"AND json_extract(properties, '$.zendesk_event') IN ({_CLICKED})"
        )
        db.execute(
            "INSERT INTO dirty_customers (customer_id, marked_at) "
            f"SELECT DISTINCT customer_id, ? {clicks} ON CONFLICT(customer_id) DO NOTHING",
            [now_epoch()],
        )
        db.execute(
            f"UPDATE {table} SET type = 'search', properties = json_set(properties, "
            "'$.result_click', json('true'), '$.article_id', article_id) "
            f"WHERE id IN (SELECT id {clicks})"
        )


@migrations(name="0013_sync_run_owner")
def sync_run_owner(db: Database) -> None:
    _run(
        db,
        """
        -- Which process runs a sync (host:pid:token) and when it last showed life (real
        -- epoch seconds), so a run whose process died is told from one still going
        -- (plugin/intake/sync.py). Runs left `running` by earlier versions age from their start.
        ALTER TABLE sync_runs ADD COLUMN owner TEXT;
        ALTER TABLE sync_runs ADD COLUMN heartbeat_at INTEGER;
        UPDATE sync_runs SET heartbeat_at = started_at WHERE status = 'running'
        """,
    )


@migrations(name="0014_outreach_outbox")
def outreach_outbox(db: Database) -> None:
    _run(
        db,
        """
        -- Proactive messages (plugin/outreach/): one row per (rule, customer, period),
        -- claimed before anything is sent, so nobody gets the same message twice.
        -- status: pending | sending | sent | failed | uncertain | held_out | discarded
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            customer_id INTEGER NOT NULL,
            period TEXT NOT NULL,
            rule_version INTEGER,
            status TEXT NOT NULL,
            channel TEXT NOT NULL,
            recipient TEXT,
            locale TEXT,
            reasons TEXT NOT NULL DEFAULT '[]',
            subject TEXT,
            body_text TEXT,
            body_html TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            error TEXT,
            outcome TEXT,
            external_id TEXT,
            sending_by TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            sent_at INTEGER,
            UNIQUE (rule, customer_id, period)
        );
        CREATE INDEX outbox_due ON outbox(status, next_attempt_at);
        CREATE INDEX outbox_customer ON outbox(customer_id, created_at);
        -- Who asked never to be written to again, by lower-cased address: a re-sync that
        -- recreates or merges customers cannot bring them back.
        CREATE TABLE suppressions (
            email TEXT PRIMARY KEY,
            reason TEXT NOT NULL,
            created_at INTEGER NOT NULL
        ) WITHOUT ROWID
        """,
    )


@migrations(name="0015_outreach_alert_cleared")
def outreach_alert_cleared(db: Database) -> None:
    _run(
        db,
        """
        -- Webhook alerts (internal): when a run found the customer outside the rule's
        -- audience after this alert. Until then the reason holds and the rule does not
        -- alert the team again about the same customer for the same reasons.
        ALTER TABLE outbox ADD COLUMN cleared_at INTEGER;
        """,
    )


@migrations(name="0016_sla_decisions")
def sla_decisions(db: Database) -> None:
    _run(
        db,
        """
        -- SLA rules (plugin/sla/): one decision per ticket, taken when it first appears
        -- unsolved; rule is NULL when no rule matched. JSON: tags_added, targets, reasons.
        CREATE TABLE sla_decisions (
            source TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            customer_id INTEGER,
            rule TEXT,
            rule_version INTEGER NOT NULL,
            priority_before TEXT,
            priority_after TEXT,
            tags_added TEXT NOT NULL DEFAULT '[]',
            targets TEXT NOT NULL DEFAULT '{}',
            reasons TEXT NOT NULL DEFAULT '[]',
            decided_at INTEGER NOT NULL,
            PRIMARY KEY (source, ticket_id)
        ) WITHOUT ROWID;
        CREATE INDEX sla_decisions_recent ON sla_decisions(decided_at);
        -- What a decision changes at the desk, written in the decision's transaction and
        -- sent by plugin/sla/push.py under its lease. status: pending | sending | sent | failed
        CREATE TABLE sla_pushes (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            priority TEXT,
            add_tags TEXT NOT NULL DEFAULT '[]',
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            error TEXT,
            sending_by TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            sent_at INTEGER,
            UNIQUE (source, ticket_id)
        );
        CREATE INDEX sla_pushes_due ON sla_pushes(status, next_attempt_at);
        """,
    )


@migrations(name="0017_journey_notes")
def journey_notes(db: Database) -> None:
    _run(
        db,
        """
        -- The private journey note posted on each new ticket (plugin/notes/): queued in the
        -- transaction that stores the ticket's SLA decision, posted by plugin/notes/post.py
        -- under its lease. One row per ticket, ever. status: pending | sending | posted |
        -- failed. body: the text posted (what the note said), kept once posted.
        CREATE TABLE journey_notes (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            status TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL,
            error TEXT,
            sending_by TEXT,
            body TEXT,
            created_at INTEGER NOT NULL,
            updated_at INTEGER NOT NULL,
            posted_at INTEGER,
            UNIQUE (source, ticket_id)
        );
        CREATE INDEX journey_notes_due ON journey_notes(status, next_attempt_at);
        """,
    )


@migrations(name="0018_ticket_groups")
def ticket_groups(db: Database) -> None:
    _run(
        db,
        """
        -- The group (team) a ticket is assigned to, by the desk's name for it (else its id):
        -- what SLA conditions test as ticket.group.
        ALTER TABLE tickets ADD COLUMN group_name TEXT;
        """,
    )


@migrations(name="0019_tickets_created_at")
def tickets_created_at(db: Database) -> None:
    _run(
        db,
        """
        -- The tickets of a recent window (the SLA what-if, its newest sample tickets)
        -- without reading every ticket of the desk's history.
        CREATE INDEX tickets_created_at ON tickets(created_at)
        """,
    )


@migrations(name="0021_guard_events")
def guard_events(db: Database) -> None:
    _run(
        db,
        """
        -- The reply guard's warnings and what the agent did (plugin/reply_guard/events.py):
        -- one row per warning shown about an article on a ticket, until the agent sends
        -- anyway or edits the reply (outcome: sent_anyway | edited); a later warning about
        -- the same article on the same ticket opens a new row. checks counts the drafts
        -- checked while the row was open.
        CREATE TABLE guard_events (
            id INTEGER PRIMARY KEY,
            source TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            customer_id INTEGER,
            article_source TEXT NOT NULL,
            article_id TEXT NOT NULL,
            title TEXT,
            warned_at INTEGER NOT NULL,
            last_warned_at INTEGER NOT NULL,
            checks INTEGER NOT NULL DEFAULT 1,
            outcome TEXT,
            outcome_at INTEGER
        );
        CREATE UNIQUE INDEX guard_events_open
            ON guard_events(source, ticket_id, article_source, article_id)
            WHERE outcome IS NULL;
        CREATE INDEX guard_events_warned ON guard_events(warned_at);
        """,
    )


@migrations(name="0022_report_aggregates")
def report_aggregates(db: Database) -> None:
    _run(
        db,
        """
        -- What the touchpoint, effort and journey-map reports read (store/report_aggregates.py),
        -- kept up to date by the worker and rebuilt in full on demand. Days are UTC days
        -- (epoch // 86400). desk: the article's knowledge base, else the event's source, for
        -- touchpoints; the ticket's desk; '' for outreach (not tied to one desk).
        -- stage: the customer's stage when it happened; followed: of volume, those after
        -- which the customer opened a ticket within 24 h.
        CREATE TABLE touchpoint_days (
            day INTEGER NOT NULL,
            desk TEXT NOT NULL,
            stage TEXT NOT NULL,
            touchpoint TEXT NOT NULL,
            volume INTEGER NOT NULL,
            followed INTEGER NOT NULL,
            PRIMARY KEY (day, desk, stage, touchpoint)
        ) WITHOUT ROWID;
        -- One row per ticket: its stage when opened, CSAT, the customer's effort in the 7
        -- days up to its solving, and the articles read in the 24 h before it (JSON
        -- [[source, article id, title], ...]).
        CREATE TABLE ticket_facts (
            source TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            customer_id INTEGER NOT NULL,
            created_at INTEGER NOT NULL,
            solved_at INTEGER,
            stage TEXT NOT NULL,
            csat TEXT,
            views INTEGER NOT NULL DEFAULT 0,
            searches INTEGER NOT NULL DEFAULT 0,
            contacts INTEGER NOT NULL DEFAULT 0,
            read_before TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (source, ticket_id)
        ) WITHOUT ROWID;
        CREATE INDEX ticket_facts_created ON ticket_facts(created_at);
        CREATE INDEX ticket_facts_solved ON ticket_facts(solved_at) WHERE solved_at IS NOT NULL;
        -- ticket_facts counted per UTC day, desk (the ticket's) and stage: measure csat
        -- (value good | bad) and read (value "<source>\t<article id>", with its title) by
        -- the day the ticket was opened; effort, views, searches, contacts (value: the
        -- number) by the day it was solved, so medians come from these histograms.
        CREATE TABLE ticket_days (
            day INTEGER NOT NULL,
            desk TEXT NOT NULL,
            stage TEXT NOT NULL,
            measure TEXT NOT NULL,
            value TEXT NOT NULL,
            tickets INTEGER NOT NULL,
            title TEXT,
            PRIMARY KEY (measure, day, desk, stage, value)
        ) WITHOUT ROWID;
        -- The final outcome of an outreach message (sent or held out) once its 7 days and
        -- a day are over: a ticket from the customer, an opt-out of the address, within 7 days.
        -- rule, status (sent | held_out), at (sent, or due when held out) and the customer
        -- are the message's, copied so a range is read from the index alone.
        CREATE TABLE outreach_outcomes (
            message_id INTEGER PRIMARY KEY,
            rule TEXT NOT NULL,
            status TEXT NOT NULL,
            at INTEGER NOT NULL,
            customer_id INTEGER NOT NULL,
            ticket INTEGER NOT NULL,
            unsubscribed INTEGER NOT NULL
        );
        CREATE INDEX outreach_outcomes_at
            ON outreach_outcomes(at, rule, status, ticket, unsubscribed, customer_id);
        -- What the aggregates cover: touchpoints up to touchpoint_id, refreshed at refreshed_at.
        CREATE TABLE report_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            touchpoint_id INTEGER NOT NULL,
            refreshed_at INTEGER NOT NULL
        );
        -- Days of touchpoints (tickets: 0019), read when a day's aggregates are made again;
        -- the moves between stages in a range (first placements are most of the rows).
        CREATE INDEX touchpoints_time ON touchpoints(occurred_at);
        CREATE INDEX stage_history_moves ON stage_history(at) WHERE from_stage IS NOT NULL;
        """,
    )


@migrations(name="0023_report_days")
def report_days(db: Database) -> None:
    _run(
        db,
        """
        -- Report aggregates per UTC day, kept by plugin/reports/days.py (the worker, and a
        -- report page for the few days it finds missing): the report pages sum a range of
        -- days instead of reading millions of tickets and views. day: midnight UTC.
        CREATE TABLE report_days (
            day INTEGER PRIMARY KEY,
            computed_at INTEGER NOT NULL
        );
        -- tickets opened that day per desk, stage when opened and channel
        CREATE TABLE report_ticket_days (
            day INTEGER NOT NULL,
            source TEXT NOT NULL,
            stage TEXT NOT NULL,
            channel TEXT NOT NULL,
            tickets INTEGER NOT NULL,
            csat_good INTEGER NOT NULL,
            csat_rated INTEGER NOT NULL,
            sla_targeted INTEGER NOT NULL,
            sla_breached INTEGER NOT NULL,
            PRIMARY KEY (day, source, stage, channel)
        ) WITHOUT ROWID;
        -- their first-response and resolution times, counted per rounded value
        -- (measure: first_response | resolution; minutes: the bucket's value)
        CREATE TABLE report_time_days (
            day INTEGER NOT NULL,
            source TEXT NOT NULL,
            stage TEXT NOT NULL,
            channel TEXT NOT NULL,
            measure TEXT NOT NULL,
            minutes REAL NOT NULL,
            tickets INTEGER NOT NULL,
            PRIMARY KEY (day, source, stage, channel, measure, minutes)
        ) WITHOUT ROWID;
        -- article views that day, and how many the same customer followed with a ticket
        -- within 24 h
        CREATE TABLE report_article_days (
            day INTEGER NOT NULL,
            article_source TEXT NOT NULL,
            article_id TEXT NOT NULL,
            views INTEGER NOT NULL,
            followed INTEGER NOT NULL,
            PRIMARY KEY (day, article_source, article_id)
        ) WITHOUT ROWID;
        -- a day's tickets and their customers without reading every ticket: 0019's index
        -- of creation times, now also covering the customer (one index, not two)
        DROP INDEX tickets_created_at;
        CREATE INDEX tickets_created_at ON tickets(created_at, customer_id, deleted);
        -- (stage moves in a period: stage_history_moves, made by 0022)
        """,
    )


@migrations(name="0020_reconstructed_stage_history")
def reconstructed_stage_history(db: Database) -> None:
    _run(
        db,
        """
        -- 1 for a transition replayed from the customer's dated history when journeydesk
        -- first computed them (plugin/journey/replay.py); 0 for one observed by a recompute.
        -- A rebuild with a new model replaces the reconstructed rows only.
        ALTER TABLE stage_history ADD COLUMN reconstructed INTEGER NOT NULL DEFAULT 0;
        """,
    )


@migrations(name="0024_one_report_machinery")
def one_report_machinery(db: Database) -> None:
    _run(
        db,
        """
        -- One machinery keeps every report figure (plugin/reports/aggregates.py, owned by
        -- store/report_aggregates.py): built newest day first within a budget per run,
        -- then kept up to date from what changed. 0023's ledger of counted days goes; its
        -- day tables stay (ticket and time sums per day, stage and channel; article views)
        -- but are counted from ticket_facts, by day number (epoch // 86400) like 0022's.
        -- Every figure is derived: all are emptied and counted again by the next refresh.
        DROP TABLE report_days;
        DELETE FROM report_ticket_days;
        DELETE FROM report_time_days;
        DELETE FROM report_article_days;
        DELETE FROM touchpoint_days;
        DELETE FROM ticket_days;
        DELETE FROM report_state;
        -- built_from: the oldest UTC day built so far (NULL: nothing yet);
        -- stage_history_id: the stage history seen by then (later entries restage events).
        ALTER TABLE report_state ADD COLUMN built_from INTEGER;
        ALTER TABLE report_state ADD COLUMN stage_history_id INTEGER NOT NULL DEFAULT 0;
        -- One row per ticket not deleted (with or without a known customer): 0022's facts
        -- and what the ticket reports need. Times are in 10%-wide minute bins; sla: met,
        -- breached, running (a clock still within its target) or NULL (no target);
        -- sla_check_at: when a running clock runs out (the outcome is made again then).
        DROP TABLE ticket_facts;
        CREATE TABLE ticket_facts (
            source TEXT NOT NULL,
            ticket_id TEXT NOT NULL,
            customer_id INTEGER,
            created_at INTEGER NOT NULL,
            solved_at INTEGER,
            stage TEXT NOT NULL,
            channel TEXT NOT NULL,
            csat TEXT,
            first_response_minutes REAL,
            resolution_minutes REAL,
            sla TEXT,
            sla_check_at INTEGER,
            views INTEGER NOT NULL DEFAULT 0,
            searches INTEGER NOT NULL DEFAULT 0,
            contacts INTEGER NOT NULL DEFAULT 0,
            read_before TEXT NOT NULL DEFAULT '[]',
            PRIMARY KEY (source, ticket_id)
        ) WITHOUT ROWID;
        CREATE INDEX ticket_facts_created ON ticket_facts(created_at);
        CREATE INDEX ticket_facts_solved ON ticket_facts(solved_at) WHERE solved_at IS NOT NULL;
        CREATE INDEX ticket_facts_sla_check ON ticket_facts(sla_check_at)
            WHERE sla_check_at IS NOT NULL;
        """,
    )


REPORT_CHANGES_BACKFILL = """
-- What the margin would still have made again at the next refresh: the tickets changed
-- at the desk within a day of the last refresh, or whose facts are missing or left over,
-- from the oldest day built; the messages sent since. One pass over the tickets; no table
-- is rewritten. Nothing when no figure is built yet.
INSERT INTO report_changes (source, ticket_id, customer_id, at)
SELECT t.source, t.id, t.customer_id, t.created_at FROM tickets t
JOIN report_state s ON s.built_from IS NOT NULL
WHERE t.created_at >= s.built_from * 86400 AND (
    coalesce(t.updated_at, t.created_at) >= s.refreshed_at - 86400
    OR (t.deleted = 0) != EXISTS (SELECT 1 FROM ticket_facts f
        WHERE f.source = t.source AND f.ticket_id = t.id));
INSERT INTO report_changes (customer_id, at)
SELECT o.customer_id, o.sent_at FROM outbox o
JOIN report_state s ON s.built_from IS NOT NULL
WHERE o.status = 'sent' AND o.channel != 'webhook' AND o.sent_at >= s.refreshed_at - 86400;
"""
"""0025's backfill, the same SQL on both engines (backends/postgres_schema.py)."""


@migrations(name="0025_report_changes")
def report_changes(db: Database) -> None:
    _run(
        db,
        """
        -- What changed for the report figures since the worker's last refresh, appended by
        -- the store in the transaction of each write (store/report_changes.py) and deleted
        -- by the refresh once counted: a ticket stored, changed, deleted, moved or given an
        -- SLA decision (source, ticket_id; at: its creation), an outreach message sent (at:
        -- when). It replaces a day's margin on the desk's own updated_at.
        CREATE TABLE report_changes (
            id INTEGER PRIMARY KEY,
            source TEXT,
            ticket_id TEXT,
            customer_id INTEGER,
            at INTEGER NOT NULL
        );
        """
        + REPORT_CHANGES_BACKFILL,
    )
