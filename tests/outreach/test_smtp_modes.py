"""The email channel's SMTP modes against aiosmtpd on 127.0.0.1: STARTTLS and implicit
TLS with a certificate of a private CA made here (the client verifies it through
[email] ca_file), and AUTH LOGIN / PLAIN with credentials from the environment."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from plugin.outreach.engine import run_outreach
from plugin.store import open_store
from plugin.store.outbox import list_messages, status_counts
from tests.outreach.conftest import Sink, free_port, outreach_config
from tests.outreach.test_delivery import repeat_readers

pytestmark = pytest.mark.usefixtures("backend")

USER, PASSWORD = "mailer", "s3cret-pass"


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> tuple[Path, Path, Path]:
    """(ca.pem, server.pem, server.key): a CA and a certificate for 127.0.0.1 it signed."""
    folder = tmp_path_factory.mktemp("pki")
    now = dt.datetime.now(dt.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("journeydesk test CA"))
        .issuer_name(_name("journeydesk test CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_pem, cert_pem, key_pem = (folder / n for n in ("ca.pem", "server.pem", "server.key"))
    ca_pem.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_pem.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_pem.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return ca_pem, cert_pem, key_pem


def server_tls(pki) -> ssl.SSLContext:
    _, cert, key = pki
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class Authenticator:
    """Accepts USER / PASSWORD; remembers every attempt and its mechanism."""

    def __init__(self) -> None:
        self.attempts: list[tuple[str, str, bool]] = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        ok = isinstance(auth_data, LoginPassword) and (
            auth_data.login.decode(),
            auth_data.password.decode(),
        ) == (USER, PASSWORD)
        login = auth_data.login.decode() if isinstance(auth_data, LoginPassword) else "?"
        self.attempts.append((mechanism, login, ok))
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def start_server():
    controllers = []

    def start(**kwargs) -> Sink:
        sink = Sink()
        sink.port = free_port()
        controller = Controller(sink, hostname="127.0.0.1", port=sink.port, **kwargs)
        controller.start()
        controllers.append(controller)
        return sink

    yield start
    for controller in controllers:
        controller.stop()


def email_config(tmp_path, seeded_demo, sink: Sink, lines: str):
    """The repeat-reader rule over an SMTP server set up by `lines` of [email]."""
    config = outreach_config(tmp_path, seeded_demo, port=sink.port)
    text = Path(config.path).read_text(encoding="utf-8")
    text = text.replace("timeout_seconds = 5\n", "timeout_seconds = 5\n" + lines + "\n")
    Path(config.path).write_text(text, encoding="utf-8")
    from plugin.config import load_config

    return load_config(config.path)


def assert_delivered(config, sink: Sink) -> None:
    expected = repeat_readers(config)
    assert sorted(r.lower() for r in sink.recipients()) == sorted(expected)
    assert sink.sessions == 1  # one connection for the run (EHLO again after STARTTLS: 2)
    with open_store(config.database_path) as db:
        assert status_counts(db) == {"sent": len(expected)}


def test_starttls_verifies_the_server_against_ca_file(tmp_path, seeded_demo, start_server, pki):
    sink = start_server(tls_context=server_tls(pki), require_starttls=True)
    config = email_config(tmp_path, seeded_demo, sink, f'starttls = true\nca_file = "{pki[0]}"')

    report = run_outreach(config)

    assert report.delivery.sent > 0 and not report.delivery.errors
    expected = repeat_readers(config)
    assert sorted(r.lower() for r in sink.recipients()) == sorted(expected)
    assert sink.sessions == 2  # EHLO, STARTTLS, EHLO again: still one connection
    with open_store(config.database_path) as db:
        assert status_counts(db) == {"sent": len(expected)}


def test_starttls_refuses_a_server_it_cannot_verify(tmp_path, seeded_demo, start_server, pki):
    sink = start_server(tls_context=server_tls(pki), require_starttls=True)
    config = email_config(tmp_path, seeded_demo, sink, "starttls = true")  # no ca_file

    report = run_outreach(config)

    assert report.delivery.sent == 0 and report.delivery.retrying == 0
    with open_store(config.database_path) as db:
        failed = list_messages(db, status="failed")
    assert len(failed) == report.delivery.failed > 0
    assert all("certificate" in m["error"] and "ca_file" in m["error"] for m in failed)
    assert sink.messages == []


def test_ssl_from_the_first_byte(tmp_path, seeded_demo, start_server, pki):
    sink = start_server(ssl_context=server_tls(pki))
    config = email_config(tmp_path, seeded_demo, sink, f'ssl = true\nca_file = "{pki[0]}"')

    report = run_outreach(config)

    assert report.delivery.sent > 0 and not report.delivery.errors
    assert_delivered(config, sink)


@pytest.mark.parametrize("mechanism", ["LOGIN", "PLAIN"])
def test_auth_over_starttls_with_credentials_from_the_environment(
    tmp_path, seeded_demo, start_server, pki, monkeypatch, mechanism
):
    authenticator = Authenticator()
    other = {"LOGIN": ["PLAIN"], "PLAIN": ["LOGIN"]}[mechanism]
    sink = start_server(
        tls_context=server_tls(pki),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
        auth_exclude_mechanism=other,
    )
    monkeypatch.setenv("JD_SMTP_USER", USER)
    monkeypatch.setenv("JD_SMTP_PASSWORD", PASSWORD)
    lines = (
        f'starttls = true\nca_file = "{pki[0]}"\n'
        'username_env = "JD_SMTP_USER"\npassword_env = "JD_SMTP_PASSWORD"'
    )
    config = email_config(tmp_path, seeded_demo, sink, lines)

    report = run_outreach(config)

    assert report.delivery.sent > 0 and not report.delivery.errors
    assert authenticator.attempts == [(mechanism, USER, True)]  # one login for the run
    expected = repeat_readers(config)
    assert sorted(r.lower() for r in sink.recipients()) == sorted(expected)


def test_a_wrong_password_fails_every_message_after_one_login(
    tmp_path, seeded_demo, start_server, pki, monkeypatch
):
    authenticator = Authenticator()
    sink = start_server(
        tls_context=server_tls(pki),
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    )
    monkeypatch.setenv("JD_SMTP_USER", USER)
    monkeypatch.setenv("JD_SMTP_PASSWORD", "wrong")
    lines = (
        f'starttls = true\nca_file = "{pki[0]}"\n'
        'username_env = "JD_SMTP_USER"\npassword_env = "JD_SMTP_PASSWORD"'
    )
    config = email_config(tmp_path, seeded_demo, sink, lines)

    report = run_outreach(config)

    expected = repeat_readers(config)
    assert report.delivery.failed == len(expected) and report.delivery.retrying == 0
    # one login for the whole run (smtplib's login tries each offered mechanism once),
    # not one per message: no storm a server would lock the account for
    assert sorted(m for m, _, _ in authenticator.attempts) == ["LOGIN", "PLAIN"]
    with open_store(config.database_path) as db:
        failed = list_messages(db, status="failed", limit=1000)
    assert len(failed) == len(expected)
    for message in failed:
        assert message["attempts"] == 1
        assert "refused the login of 'mailer'" in message["error"]
        assert "535" in message["error"] and "JD_SMTP_PASSWORD" in message["error"]
    assert sink.messages == []


def test_a_missing_user_variable_is_named(tmp_path, seeded_demo, start_server, monkeypatch):
    sink = start_server()
    monkeypatch.delenv("JD_SMTP_NOBODY", raising=False)
    config = email_config(tmp_path, seeded_demo, sink, 'username_env = "JD_SMTP_NOBODY"')

    report = run_outreach(config)

    assert report.delivery.failed > 0 and report.delivery.sent == 0
    assert "JD_SMTP_NOBODY" in report.delivery.errors[0]
    assert sink.sessions == 0
