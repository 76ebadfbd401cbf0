"""The test cluster itself (tests/helpers/postgres.py): databases made and dropped, a
stop and a start as failover tests will use them, a template copied."""

from __future__ import annotations

import psycopg
import pytest


def test_a_database_is_created_reached_and_dropped(postgres_cluster):
    url = postgres_cluster.create_database("cluster_check")
    assert url == f"postgresql://postgres@127.0.0.1:{postgres_cluster.port}/cluster_check"
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("cluster_check",)
    postgres_cluster.drop_database("cluster_check")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(url)


def test_dropping_ends_sessions_still_connected(postgres_cluster):
    url = postgres_cluster.create_database("cluster_leaked")
    leaked = psycopg.connect(url)
    postgres_cluster.drop_database("cluster_leaked")
    with pytest.raises(psycopg.OperationalError):
        leaked.execute("SELECT 1")
    leaked.close()


def test_a_copy_of_a_template_holds_its_rows(postgres_cluster):
    template_url = postgres_cluster.create_database("cluster_template")
    with psycopg.connect(template_url) as conn:
        conn.execute("CREATE TABLE kept (id BIGINT PRIMARY KEY)")
        conn.execute("INSERT INTO kept VALUES (7)")
    try:
        copy_url = postgres_cluster.create_database("cluster_copy", template="cluster_template")
        with psycopg.connect(copy_url) as conn:
            assert conn.execute("SELECT id FROM kept").fetchall() == [(7,)]
    finally:
        postgres_cluster.drop_database("cluster_copy")
        postgres_cluster.drop_database("cluster_template")


def test_the_server_stops_and_starts_again_on_the_same_port(postgres_cluster):
    url = postgres_cluster.create_database("cluster_restart")
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (id BIGINT PRIMARY KEY)")
        conn.execute("INSERT INTO kept VALUES (1)")
    port = postgres_cluster.port
    postgres_cluster.stop()
    try:
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
    finally:
        postgres_cluster.start()
    assert postgres_cluster.port == port
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT id FROM kept").fetchall() == [(1,)]
    postgres_cluster.drop_database("cluster_restart")
