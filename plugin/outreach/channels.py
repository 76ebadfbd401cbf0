"""Where outreach messages go: email over SMTP, a help desk's outbound message, a webhook.

A channel sends one outbox message and returns (outcome, external id), or raises
`SendError` saying whether trying again later may help (`transient`). One channel object
serves a whole delivery run: the email channel keeps ONE SMTP connection open for it.
"""

from __future__ import annotations

import json
import os
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from pathlib import Path
from typing import Any

import requests

from connectors.errors import (
    AuthError,
    BadPayloadError,
    ConnectorError,
    FeatureUnavailableError,
    NotFoundError,
    RetriesExhaustedError,
)
from connectors.http import HttpStatusError
from connectors.records import Customer
from plugin.config import Config
from plugin.security import mint_unsubscribe_token, sign_generic_webhook

SIGNATURE_HEADER = "X-Journeydesk-Signature"
"""`t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>." + body)>` on webhook POSTs."""


class SendError(Exception):
    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


def unsubscribe_url(config: Config, email: str) -> str:
    token = mint_unsubscribe_token(config.secret, email.strip().lower())
    return f"{config.server['public_url'].rstrip('/')}/u/{token}"


class EmailChannel:
    """SMTP (plain, STARTTLS or SSL; login when username_env is set), one connection a run."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = config.email
        self._smtp: smtplib.SMTP | None = None
        self._broken: SendError | None = None

    def _connection(self) -> smtplib.SMTP:
        """The run's one connection, opened (and logged in) on first use. A connection or
        login that failed is not tried again in the same run: every later message gets
        the same error at once (no storm of logins a server may lock the account for)."""
        if self._smtp is not None:
            return self._smtp
        if self._broken is not None:
            raise self._broken
        try:
            self._smtp = self._open()
        except SendError as exc:
            self._broken = exc
            raise
        return self._smtp

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        host, port, timeout = s["smtp_host"], s["smtp_port"], s["timeout_seconds"]
        user, password = self._credentials()
        smtp: smtplib.SMTP | None = None
        try:
            if s["ssl"]:
                smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=self._tls())
            else:
                smtp = smtplib.SMTP(host, port, timeout=timeout)
                if s["starttls"]:
                    smtp.starttls(context=self._tls())
            if user:
                smtp.login(user, password)
        except smtplib.SMTPAuthenticationError as exc:
            _close(smtp)
            said = exc.smtp_error.decode(errors="replace") if exc.smtp_error else ""
            raise SendError(
                f"the SMTP server {host}:{port} refused the login of {user!r} "
                f"({exc.smtp_code} {said}".rstrip()
                + "); check the user and password in "
                f"${s['username_env']} and ${s['password_env']} ([email] username_env, "
                "password_env)",
                transient=False,
            ) from None
        except smtplib.SMTPNotSupportedError as exc:
            _close(smtp)
            raise SendError(
                f"the SMTP server {host}:{port} does not offer what [email] asks ({exc}); "
                "check starttls, ssl and username_env",
                transient=False,
            ) from None
        except ssl.SSLCertVerificationError as exc:
            _close(smtp)
            raise SendError(
                f"the SMTP server {host}:{port} presented a certificate we do not trust "
                f"({exc.verify_message or exc}); if it is signed by your own CA, set "
                "[email] ca_file to that CA's PEM file",
                transient=False,
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            _close(smtp)
            raise SendError(
                f"cannot reach the SMTP server {host}:{port} ({exc or type(exc).__name__})",
                transient=True,
            ) from None
        return smtp

    def _credentials(self) -> tuple[str, str]:
        s = self.settings
        if not s["username_env"]:
            return "", ""
        user = os.environ.get(s["username_env"], "")
        if not user:
            raise SendError(
                f"the environment variable {s['username_env']} ([email] username_env, the "
                "SMTP user) is not set",
                transient=False,
            )
        return user, os.environ.get(s["password_env"], "") if s["password_env"] else ""

    def _tls(self) -> ssl.SSLContext:
        """Verifying TLS: the system's CAs, or [email] ca_file (a private CA)."""
        ca_file = self.settings["ca_file"]
        if ca_file:  # relative to the config file, like every other path in it
            ca_file = str(Path(self.config.path).parent / Path(ca_file).expanduser())
        return ssl.create_default_context(cafile=ca_file or None)

    def build(self, message: dict[str, Any]) -> EmailMessage:
        sender = self.settings["from"]
        domain = parseaddr(sender)[1].rpartition("@")[2] or "journeydesk.local"
        mail = EmailMessage()
        mail["From"] = sender
        mail["To"] = message["recipient"]
        mail["Subject"] = message["subject"]
        mail["Date"] = formatdate(localtime=False)
        mail["Message-ID"] = make_msgid(idstring=f"outreach.{message['id']}", domain=domain)
        links = [f"<{unsubscribe_url(self.config, message['recipient'])}>"]
        if self.settings["unsubscribe_mailto"]:
            links.append(f"<mailto:{self.settings['unsubscribe_mailto']}?subject=unsubscribe>")
        mail["List-Unsubscribe"] = ", ".join(links)
        mail["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        mail.set_content(message["body_text"] or "")
        mail.add_alternative(message["body_html"] or "", subtype="html")
        return mail

    def send(self, message: dict[str, Any]) -> tuple[str, str | None]:
        mail = self.build(message)
        smtp = self._connection()
        try:
            refused = smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            raise SendError(
                f"the SMTP server refused the recipient ({codes[0] if codes else '?'})",
                transient=all(400 <= c < 500 for c in codes),
            ) from None
        except smtplib.SMTPResponseException as exc:
            self._drop()
            text = exc.smtp_error.decode(errors="replace") if exc.smtp_error else ""
            raise SendError(
                f"SMTP {exc.smtp_code} {text}".strip(), transient=400 <= exc.smtp_code < 500
            ) from None
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()  # the next message opens a new connection
            raise SendError(f"SMTP connection failed ({exc})", transient=True) from None
        if refused:
            raise SendError(f"the SMTP server refused {', '.join(refused)}", transient=False)
        return "accepted by the SMTP server", mail["Message-ID"]

    def _drop(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.close()
            except OSError:
                pass

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def _close(smtp: smtplib.SMTP | None) -> None:
    if smtp is not None:
        try:
            smtp.close()
        except OSError:
            pass


class WebhookChannel:
    """A JSON POST to the rule's URL, signed like our inbound generic webhooks."""

    def __init__(self, config: Config, rules_by_name: dict[str, Any]) -> None:
        self.rules = rules_by_name
        self.session = requests.Session()

    def send(self, message: dict[str, Any]) -> tuple[str, str | None]:
        rule = self.rules.get(message["rule"])
        if rule is None:
            raise SendError(f"the rule {message['rule']!r} no longer exists", transient=False)
        secret = os.environ.get(rule.secret_env, "")
        if not secret:
            raise SendError(
                f"the environment variable {rule.secret_env} (the webhook secret) is not set",
                transient=False,
            )
        body = json.dumps(message["payload"], ensure_ascii=False, sort_keys=True).encode()
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign_generic_webhook(secret, body),
            "X-Journeydesk-Message": str(message["id"]),
        }
        try:
            answer = self.session.post(rule.url, data=body, headers=headers, timeout=15)
        except requests.RequestException as exc:
            raise SendError(f"POST {rule.url} failed ({exc})", transient=True) from None
        if answer.status_code >= 400:
            transient = answer.status_code >= 500 or answer.status_code in (408, 429)
            raise SendError(f"POST {rule.url} answered {answer.status_code}", transient=transient)
        return f"{answer.status_code} from {rule.url}", answer.headers.get("X-Request-Id")

    def close(self) -> None:
        self.session.close()


class HelpdeskChannel:
    """An outbound message through the customer's desk (a Zendesk ticket with the customer
    as requester, a Freshdesk outbound email), so the conversation lives in the desk."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self._connectors: dict[str, Any] = {}

    def send(self, message: dict[str, Any]) -> tuple[str, str | None]:
        from plugin.intake.connector_factory import make_connector, one_sentence

        source, _, user_id = (message["recipient"] or "").partition(":")
        conf = self.config.connector(source)
        if conf is None:
            raise SendError(f"no connector named {source!r} any more", transient=False)
        connector = self._connectors.get(source)
        if connector is None:
            connector = self._connectors[source] = make_connector(self.config, conf)
        if not hasattr(connector, "send_outbound"):
            raise SendError(
                f"{source} ({conf.type}) cannot send outbound messages", transient=False
            )
        customer = Customer(
            source_id=user_id,
            email=message["payload"]["customer"]["email"],
            name=message["payload"]["customer"]["name"],
        )
        key = f"journeydesk-outbox-{message['id']}"
        try:
            ticket = connector.send_outbound(
                customer, message["subject"], message["body_text"], key=key
            )
        except ConnectorError as exc:
            raise SendError(one_sentence(exc), transient=_desk_may_recover(exc)) from None
        except ValueError as exc:
            raise SendError(str(exc), transient=False) from None
        return f"ticket {ticket} in {source}", str(ticket)

    def close(self) -> None:
        pass


def _desk_may_recover(exc: ConnectorError) -> bool:
    """Whether trying again later may help: a 5xx, a desk that kept failing or a broken
    connection may; credentials, a missing setting, a 4xx (the desk says why) or an
    answer we cannot read will not."""
    if isinstance(exc, AuthError | NotFoundError | FeatureUnavailableError | BadPayloadError):
        return False
    if isinstance(exc, HttpStatusError):
        return exc.status >= 500
    if isinstance(exc, RetriesExhaustedError):
        return True
    return exc.setting is None
