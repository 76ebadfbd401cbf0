import ast
import base64
import hashlib
import hmac
import json
import re
from pathlib import Path
from urllib.parse import quote

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import RSAAlgorithm

from plugin import security
from plugin.security import (
    PURPOSE_LABELS,
    AgentClaims,
    Secret,
    TokenError,
    customer_hmac,
    find_key,
    key_matches,
    mint_agent_token,
    mint_csrf_token,
    mint_unsubscribe_token,
    sign_generic_webhook,
    verify_agent_token,
    verify_csrf_token,
    verify_customer_hmac,
    verify_generic_webhook,
    verify_help_center_jwt,
    verify_unsubscribe_token,
    verify_zendesk_app_jwt,
    verify_zendesk_webhook,
)

SECRET = "s3cret-for-tests-only"
NOW = 1_800_000_000
FAST = settings(max_examples=300, database=None, deadline=None)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def outcome(call, *args, **kwargs) -> str:
    """ "ok" when the check passes, else the TokenError reason: one-line assertions."""
    try:
        call(*args, **kwargs)
    except TokenError as exc:
        return exc.reason
    return "ok"


def tamper(token: str, index: int, value: int) -> str:
    raw = bytearray(token.encode("ascii"))
    raw[index] = value
    return raw.decode("latin-1")


# --- the module itself ---------------------------------------------------------------------


def test_module_is_pure_no_flask_or_database_imports():
    tree = ast.parse(Path(security.__file__).read_text())
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module)])
    }
    assert not imported & {"flask", "sqlite3", "sqlite_utils", "requests"}


def test_purpose_labels_are_distinct_and_prefix_free():
    for a in PURPOSE_LABELS:
        assert a[:1].isalpha()  # webhook messages start with a digit
        for b in PURPOSE_LABELS:
            assert a == b or not b.startswith(a)


# --- secrets -------------------------------------------------------------------------------


def test_secret_is_redacted_everywhere_but_reveal():
    secret = Secret("hunter2")
    shown = [repr(secret), str(secret), f"{secret}", format(secret), repr([secret])]
    assert all("hunter2" not in text for text in shown)
    assert repr(secret) == "Secret('…')"
    assert secret.reveal() == "hunter2"
    assert secret == Secret("hunter2") and secret != Secret("other")
    assert bool(Secret("")) is False


def test_secret_wraps_only_str():
    with pytest.raises(TypeError):
        Secret(b"bytes")  # type: ignore[arg-type]


@pytest.mark.parametrize("form", [Secret(SECRET), SECRET, SECRET.encode()])
def test_secret_str_and_bytes_are_interchangeable(form):
    token = mint_agent_token(SECRET, source="zendesk", ticket_id="1", now=NOW)
    assert verify_agent_token(form, token, now=NOW).ticket_id == "1"
    assert customer_hmac(form, "ana@example.com") == customer_hmac(SECRET, "ana@example.com")


@pytest.mark.parametrize("bad", ["", b"", Secret("")])
def test_empty_secret_is_refused(bad):
    with pytest.raises(ValueError):
        mint_agent_token(bad, source="zendesk", ticket_id="1")
    with pytest.raises(ValueError):
        customer_hmac(bad, "x")


def test_non_secret_type_is_refused():
    with pytest.raises(TypeError):
        customer_hmac(12345, "x")  # type: ignore[arg-type]


def test_token_error_reason_codes_are_checked():
    assert TokenError("expired").reason == "expired"
    assert str(TokenError("malformed", "header")) == "malformed: header"
    with pytest.raises(ValueError):
        TokenError("nope")  # type: ignore[arg-type]


# --- agent tokens --------------------------------------------------------------------------

AGENT_TOKEN = mint_agent_token(
    SECRET, source="zendesk", ticket_id="123", agent="ana@acme.test", ttl=600, now=NOW
)
UNSUB_TOKEN = mint_unsubscribe_token(SECRET, 42)


def agent(token, secret=SECRET, now=NOW):
    return outcome(verify_agent_token, secret, token, now=now)


def test_agent_token_round_trip():
    claims = verify_agent_token(SECRET, AGENT_TOKEN, now=NOW)
    assert claims == AgentClaims("zendesk", "123", "ana@acme.test", NOW + 600)


def test_agent_token_is_compact_url_safe_and_versioned():
    assert AGENT_TOKEN.startswith("jd1.")
    assert re.fullmatch(r"[A-Za-z0-9_.-]+", AGENT_TOKEN)
    assert quote(AGENT_TOKEN, safe="") == AGENT_TOKEN
    assert len(AGENT_TOKEN) < 160


def test_agent_token_int_ticket_and_source_wide():
    assert verify_agent_token(SECRET, mint_agent_token(SECRET, source="x", ticket_id=42)).allows(
        "x", 42
    )
    wide = verify_agent_token(SECRET, mint_agent_token(SECRET, source="freshdesk", ticket_id=None))
    assert wide.ticket_id is None and wide.agent is None


def test_agent_claims_allows():
    scoped = AgentClaims("zendesk", "123", None, NOW)
    wide = AgentClaims("zendesk", None, None, NOW)
    assert scoped.allows("zendesk", "123") and scoped.allows("zendesk", 123)
    assert not scoped.allows("zendesk", "124")
    assert not scoped.allows("freshdesk", "123")
    assert not scoped.allows("zendesk", None)  # a ticket token never opens a whole source
    assert wide.allows("zendesk", "999") and wide.allows("zendesk", None)
    assert not wide.allows("chatwoot", "999")


def test_agent_token_expiry_boundary():
    assert verify_agent_token(SECRET, AGENT_TOKEN, now=NOW + 599).source == "zendesk"
    assert agent(AGENT_TOKEN, now=NOW + 600) == "expired"


def test_agent_token_uses_the_real_clock_by_default():
    fresh = mint_agent_token(SECRET, source="z", ticket_id="1")
    assert verify_agent_token(SECRET, fresh).agent is None
    old = mint_agent_token(SECRET, source="z", ticket_id="1", ttl=60, now=1_000_000_000)
    assert agent(old, now=None) == "expired"


def test_agent_token_rejects_bad_ttl_and_source():
    with pytest.raises(ValueError):
        mint_agent_token(SECRET, source="zendesk", ticket_id="1", ttl=0)
    with pytest.raises(ValueError):
        mint_agent_token(SECRET, source="", ticket_id="1")


def test_agent_token_wrong_secret():
    assert agent(AGENT_TOKEN, secret="other") == "bad_signature"


def test_agent_token_tampered_payload_keeps_old_mac():
    _, body, mac = AGENT_TOKEN.split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=="))
    payload["tid"], payload["exp"] = "999", NOW + 10**6
    forged = f"jd1.{b64url(json.dumps(payload).encode())}.{mac}"
    assert agent(forged) == "bad_signature"


@pytest.mark.parametrize("token", [None, ""])
def test_agent_token_missing(token):
    assert agent(token) == "missing"


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "jd1.",
        "jd1..",
        "jd2" + AGENT_TOKEN[3:],
        AGENT_TOKEN + "\n",
        AGENT_TOKEN + "A",
        AGENT_TOKEN[:-1],
        " " + AGENT_TOKEN,
        AGENT_TOKEN.replace(".", "é", 1),
        AGENT_TOKEN.replace("jd1.", "jd1." + "A" * 3000),
        b"jd1.abc.def",
    ],
)
def test_agent_token_malformed(token):
    assert agent(token) == "malformed"


@pytest.mark.parametrize("label", [label for label in PURPOSE_LABELS if b"agent" not in label])
def test_agent_token_mac_under_another_purpose_is_rejected(label):
    _, body, _ = AGENT_TOKEN.split(".")
    mac = hmac.new(SECRET.encode(), label + body.encode(), hashlib.sha256).digest()
    forged = f"jd1.{body}.{b64url(mac)}"
    assert agent(forged) == "bad_signature"


def test_agent_token_unlabelled_mac_is_rejected():
    _, body, _ = AGENT_TOKEN.split(".")
    mac = hmac.new(SECRET.encode(), body.encode(), hashlib.sha256).digest()
    assert agent(f"jd1.{body}.{b64url(mac)}") == "bad_signature"


def test_unsubscribe_and_csrf_tokens_are_not_agent_tokens():
    for other in (mint_unsubscribe_token(SECRET, 7), mint_csrf_token(SECRET, "sess")):
        assert agent(other) == "malformed"


@FAST
@given(st.data())
def test_any_single_byte_tamper_of_an_agent_token_fails(data):
    index = data.draw(st.integers(0, len(AGENT_TOKEN) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != ord(AGENT_TOKEN[index])))
    with pytest.raises(TokenError):
        verify_agent_token(SECRET, tamper(AGENT_TOKEN, index, value), now=NOW)


@pytest.mark.parametrize(
    ("verify", "token"),
    [
        (lambda t: verify_agent_token(SECRET, t, now=NOW), AGENT_TOKEN),
        (lambda t: verify_unsubscribe_token(SECRET, t), UNSUB_TOKEN),
    ],
    ids=["agent", "unsubscribe"],
)
def test_every_single_byte_tamper_fails_exhaustively(verify, token):
    """All positions x all 255 other byte values: catches the cases random sampling rarely
    hits, e.g. base64's spare low bits in the last character of the MAC."""
    accepted = []
    for index in range(len(token)):
        for value in range(256):
            if value == ord(token[index]):
                continue
            try:
                verify(tamper(token, index, value))
            except TokenError:
                continue
            accepted.append((index, value))
    assert accepted == []


# --- Zendesk signed URLs (ZAF JWT) ---------------------------------------------------------

ISSUER = "acme.zendesk.com"
AUDIENCE = "https://acme.zendesk.com/api/v2/apps/installations/1234.json"


@pytest.fixture(scope="module")
def rsa_keys():
    return [rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2)]


@pytest.fixture(scope="module")
def app_key(rsa_keys):
    return rsa_keys[0]


@pytest.fixture(scope="module")
def app_pem(app_key):
    return (
        app_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def zaf_claims(**overrides):
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "iat": NOW,
        "nbf": NOW,
        "exp": NOW + 300,
        "sub": "agent-1",
        "qsh": "abc",
        "context": {"product": "support", "location": "ticket_sidebar"},
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def verify_zaf(token, pem, **kwargs):
    kwargs = {"audience": AUDIENCE, "issuer": ISSUER, "now": NOW, **kwargs}
    return verify_zendesk_app_jwt(token, public_key_pem=pem, **kwargs)


def zaf(token, pem, **kwargs):
    return outcome(verify_zaf, token, pem, **kwargs)


def test_zaf_jwt_valid(app_key, app_pem):
    token = jwt.encode(zaf_claims(), app_key, algorithm="RS256")
    claims = verify_zaf(token, app_pem)
    assert claims["context"]["location"] == "ticket_sidebar" and claims["sub"] == "agent-1"


def test_zaf_jwt_expiry_with_leeway(app_key, app_pem):
    token = jwt.encode(zaf_claims(), app_key, algorithm="RS256")
    assert verify_zaf(token, app_pem, now=NOW + 300 + 29)["iss"] == ISSUER
    assert zaf(token, app_pem, now=NOW + 300 + 30) == "expired"
    assert zaf(token, app_pem, now=NOW + 301, leeway=0) == "expired"


def test_zaf_jwt_not_yet_valid(app_key, app_pem):
    token = jwt.encode(zaf_claims(nbf=NOW + 120, iat=NOW + 120), app_key, algorithm="RS256")
    assert zaf(token, app_pem) == "not_yet_valid"


def test_zaf_jwt_uses_the_real_clock_by_default(app_key, app_pem):
    old = jwt.encode(zaf_claims(iat=None, nbf=None, exp=1_000_000_000), app_key, algorithm="RS256")
    assert zaf(old, app_pem, now=None) == "expired"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"aud": "https://evil.zendesk.com/api/v2/apps/installations/1.json"}, "bad_audience"),
        ({"iss": "evil.zendesk.com"}, "bad_issuer"),
        ({"aud": None}, "missing_claim"),
        ({"iss": None}, "missing_claim"),
        ({"exp": None}, "missing_claim"),
        ({"exp": "soon"}, "malformed"),
    ],
)
def test_zaf_jwt_claim_checks(app_key, app_pem, overrides, reason):
    token = jwt.encode(zaf_claims(**overrides), app_key, algorithm="RS256")
    assert zaf(token, app_pem) == reason


def test_zaf_jwt_signed_by_another_key(rsa_keys, app_pem):
    token = jwt.encode(zaf_claims(), rsa_keys[1], algorithm="RS256")
    assert zaf(token, app_pem) == "bad_signature"


def hs256_signed_with(key: bytes, claims: dict) -> str:
    """Build an HS256 JWT by hand: PyJWT itself refuses to use a PEM as an HMAC key."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims).encode())
    mac = hmac.new(key, f"{header}.{payload}".encode(), hashlib.sha256).digest()
    return f"{header}.{payload}.{b64url(mac)}"


def test_zaf_jwt_algorithm_confusion_hs256_with_public_pem_is_rejected(app_pem):
    token = hs256_signed_with(app_pem.encode(), zaf_claims())
    assert zaf(token, app_pem) == "bad_algorithm"


def test_zaf_jwt_alg_none_and_other_rsa_algs_are_rejected(app_key, app_pem):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    unsigned = f"{header}.{b64url(json.dumps(zaf_claims()).encode())}."
    assert zaf(unsigned, app_pem) == "bad_algorithm"
    rs512 = jwt.encode(zaf_claims(), app_key, algorithm="RS512")
    assert zaf(rs512, app_pem) == "bad_algorithm"


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "missing"), ("", "missing"), ("not-a-jwt", "malformed"), ("a.b.c", "malformed")],
)
def test_zaf_jwt_missing_and_malformed(app_pem, token, reason):
    assert zaf(token, app_pem) == reason


def test_zaf_jwt_garbage_payload_is_malformed(app_key, app_pem):
    header, _, signature = jwt.encode(zaf_claims(), app_key, algorithm="RS256").split(".")
    assert zaf(f"{header}.!!!.{signature}", app_pem) == "malformed"


def test_zaf_jwt_configuration_errors(app_key, app_pem):
    token = jwt.encode(zaf_claims(), app_key, algorithm="RS256")
    with pytest.raises(ValueError):
        verify_zaf(token, app_pem, audience="")
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    with pytest.raises(ValueError):
        verify_zaf(token, ec_pem)


# --- Zendesk Help Center JWT ----------------------------------------------------------------

HC_ISSUER = "acme.zendesk.com"


@pytest.fixture(scope="module")
def jwks(rsa_keys):
    keys = []
    for kid, key in zip(["kid-a", "kid-b"], rsa_keys, strict=True):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
        keys.append({**jwk, "kid": kid, "use": "sig"})
    return {"keys": keys}


def hc_token(key, kid="kid-b", **overrides):
    claims = {
        "iss": HC_ISSUER,
        "exp": NOW + 600,
        "iat": NOW,
        "email": "ana@example.com",
        "user_id": 9001,
        "external_id": "cust-42",
    }
    claims.update(overrides)
    headers = {"kid": kid} if kid else {}
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def hc(token, jwks, **kwargs):
    return outcome(verify_help_center_jwt, token, jwks, **{"now": NOW, **kwargs})


def test_help_center_jwt_picks_the_key_by_kid(rsa_keys, jwks):
    claims = verify_help_center_jwt(hc_token(rsa_keys[1]), jwks, issuer=HC_ISSUER, now=NOW)
    identity = (claims["email"], claims["user_id"], claims["external_id"])
    assert identity == ("ana@example.com", 9001, "cust-42")
    assert hc(hc_token(rsa_keys[0], kid="kid-a"), jwks) == "ok"


def test_help_center_jwt_kid_of_another_key_fails(rsa_keys, jwks):
    assert hc(hc_token(rsa_keys[1], kid="kid-a"), jwks) == "bad_signature"


def test_help_center_jwt_unknown_or_absent_kid(rsa_keys, jwks):
    assert hc(hc_token(rsa_keys[1], kid="kid-z"), jwks) == "unknown_key"
    no_kid = hc_token(rsa_keys[1], kid=None)
    assert hc(no_kid, jwks) == "unknown_key"  # two keys: which one?
    assert hc(no_kid, {"keys": [jwks["keys"][1]]}) == "ok"  # one key: that one


@pytest.mark.parametrize(
    "bad_jwks", [{}, {"keys": None}, {"keys": ["x"]}, {"keys": [{"kty": "RSA", "kid": "kid-b"}]}]
)
def test_help_center_jwt_unusable_jwks(rsa_keys, bad_jwks):
    assert hc(hc_token(rsa_keys[1]), bad_jwks) == "unknown_key"


def test_help_center_jwt_ignores_symmetric_keys(rsa_keys, jwks):
    mixed = {"keys": [{"kty": "oct", "kid": "kid-x", "k": b64url(b"k" * 32)}, *jwks["keys"]]}
    hs = jwt.encode({"exp": NOW + 60}, b"k" * 32, algorithm="HS256", headers={"kid": "kid-x"})
    assert hc(hs, mixed) == "bad_algorithm"
    assert hc(hc_token(rsa_keys[1], kid="kid-x"), mixed) == "unknown_key"


def test_help_center_jwt_issuer_audience_and_expiry(rsa_keys, jwks):
    token = hc_token(rsa_keys[1], aud="journeydesk")
    assert hc(token, jwks) == "ok"  # aud is only checked when asked for
    assert hc(token, jwks, audience="journeydesk") == "ok"
    assert hc(token, jwks, audience="other") == "bad_audience"
    assert hc(token, jwks, issuer="evil.zendesk.com") == "bad_issuer"
    assert hc(token, jwks, now=NOW + 600 + 29) == "ok"
    assert hc(token, jwks, now=NOW + 600 + 30) == "expired"
    assert hc(hc_token(rsa_keys[1], exp=None), jwks) == "missing_claim"
    assert hc(None, jwks) == "missing"


# --- Zendesk webhooks ------------------------------------------------------------------------

# Third-party test vector (a Rust verifier's unit test, found via code search); Zendesk's
# webhook builder signs test deliveries with this fixed, base64-looking secret.
ZD_SECRET = "dGhpc19zZWNyZXRfaXNfZm9yX3Rlc3Rpbmdfb25seQ=="
ZD_TIMESTAMP = "2021-03-25T05:09:27Z"
ZD_BODY = b'{"event":"ticket.updated","id":123}'
ZD_SIGNATURE = "S/RDdU2ERmj7LHDDoWJ2onPYH+t7/f2+LTM4dL7UiLM="
ZD_NOW = 1_616_648_967  # ZD_TIMESTAMP as unix time


def zd(secret=ZD_SECRET, body=ZD_BODY, signature=ZD_SIGNATURE, timestamp=ZD_TIMESTAMP, now=ZD_NOW):
    return outcome(verify_zendesk_webhook, secret, body, signature, timestamp, now=now)


def test_zendesk_webhook_third_party_vector():
    assert zd() == "ok"


def test_zendesk_webhook_secret_is_used_as_given_not_base64_decoded():
    assert zd(secret=base64.b64decode(ZD_SECRET)) == "bad_signature"
    assert zd(secret=Secret(ZD_SECRET)) == "ok"


def test_zendesk_webhook_independent_vector():
    secret, body, ts = "whsec-xyz", b"", "2026-11-20T10:00:00Z"  # GET deliveries: empty body
    mac = hmac.new(secret.encode(), ts.encode() + body, hashlib.sha256).digest()
    signature = base64.b64encode(mac).decode()
    assert zd(secret, body, signature, ts, now=1_795_168_800) == "ok"
    assert zd(secret, b"{}", signature, ts, now=1_795_168_800) == "bad_signature"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"body": b'{"event":"ticket.updated","id":124}'}, "bad_signature"),
        ({"timestamp": "2021-03-25T05:09:28Z"}, "bad_signature"),
        ({"signature": ZD_SIGNATURE.lower()}, "bad_signature"),
        ({"signature": "sïgnature"}, "bad_signature"),
        ({"secret": "wrong"}, "bad_signature"),
        ({"signature": ""}, "missing"),
        ({"signature": None}, "missing"),
        ({"timestamp": None}, "missing"),
        ({"timestamp": "yesterday"}, "malformed"),
        ({"timestamp": "2021-03-25T05:09:27"}, "malformed"),  # no zone: ambiguous
        ({"timestamp": "2" * 100}, "malformed"),
    ],
)
def test_zendesk_webhook_rejections(changes, reason):
    assert zd(**changes) == reason


def test_zendesk_webhook_replay_window():
    assert zd(now=ZD_NOW + 300) == zd(now=ZD_NOW - 300) == "ok"
    assert zd(now=ZD_NOW + 301) == zd(now=ZD_NOW - 301) == "stale"
    assert zd(now=None) == "stale"  # the real clock: the 2021 vector is authentic but old


def test_zendesk_webhook_bad_signature_wins_over_stale():
    assert zd(body=b"x", now=ZD_NOW + 10**6) == "bad_signature"


# --- generic journeydesk webhooks ------------------------------------------------------------

BODY = b'{"ticket_id": "123"}'
HEADER = sign_generic_webhook(SECRET, BODY, now=NOW)


def generic(header=HEADER, body=BODY, secret=SECRET, **kwargs):
    return outcome(verify_generic_webhook, secret, body, header, **{"now": NOW, **kwargs})


def test_generic_webhook_format_is_the_documented_one():
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + BODY, hashlib.sha256).hexdigest()
    assert HEADER == f"t={NOW},v1={expected}"
    assert generic() == "ok"
    assert generic(HEADER.replace(expected, expected.upper())) == "ok"


def test_generic_webhook_key_rotation_and_unknown_fields():
    good = HEADER.split(",")[1]
    assert generic(f"t={NOW}, v1={'0' * 64}, {good}, v2=future") == "ok"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("v1=" + "a" * 64, "malformed"),
        (f"t={NOW}", "malformed"),
        (f"t=soon,v1={'a' * 64}", "malformed"),
        (f"t={NOW},t={NOW},v1={'a' * 64}", "malformed"),
        (f"t={NOW},v1=nothex", "bad_signature"),
        (f"t={NOW},v1=é", "bad_signature"),
        (f"t={NOW},v1={'a' * 64}", "bad_signature"),
    ],
)
def test_generic_webhook_rejections(header, reason):
    assert generic(header) == reason


def test_generic_webhook_tamper_and_replay():
    assert generic(body=BODY + b" ") == "bad_signature"
    assert generic(secret="other") == "bad_signature"
    moved = HEADER.replace(f"t={NOW}", f"t={NOW + 1000}")
    assert generic(moved, now=NOW + 1000) == "bad_signature"
    assert generic(now=NOW + 300) == generic(now=NOW - 300) == "ok"
    assert generic(now=NOW + 301) == generic(now=NOW - 301) == "stale"
    assert generic(window_seconds=10, now=NOW + 11) == "stale"


def test_generic_webhook_real_clock():
    verify_generic_webhook(SECRET, BODY, sign_generic_webhook(SECRET, BODY))


# --- portal identity HMAC -------------------------------------------------------------------


def test_customer_hmac_matches_the_documented_formula():
    mac = customer_hmac(SECRET, "ana@example.com")
    expected = hmac.new(
        SECRET.encode(), b"journeydesk/customer/v1|ana@example.com", hashlib.sha256
    ).hexdigest()
    assert mac == expected
    assert verify_customer_hmac(SECRET, "ana@example.com", mac)
    assert verify_customer_hmac(Secret(SECRET), "ana@example.com", mac.upper())


@pytest.mark.parametrize(
    "mac",
    [None, "", "zz", "é" * 64, "a" * 64, 123],
)
def test_customer_hmac_rejects_garbage(mac):
    assert verify_customer_hmac(SECRET, "ana@example.com", mac) is False


def test_customer_hmac_is_bound_to_customer_and_secret():
    mac = customer_hmac(SECRET, "ana@example.com")
    assert not verify_customer_hmac(SECRET, "bob@example.com", mac)
    assert not verify_customer_hmac("other", "ana@example.com", mac)
    plain = hmac.new(SECRET.encode(), b"ana@example.com", hashlib.sha256).hexdigest()
    assert not verify_customer_hmac(SECRET, "ana@example.com", plain)


# --- unsubscribe tokens ---------------------------------------------------------------------


@pytest.mark.parametrize("customer_id", [42, "42", "ana+promo@example.com", "Zoë/üñí"])
def test_unsubscribe_round_trip(customer_id):
    token = mint_unsubscribe_token(SECRET, customer_id)
    assert quote(token, safe="") == token and token.startswith("u1.")
    assert verify_unsubscribe_token(SECRET, token) == str(customer_id)


def test_unsubscribe_token_is_short_and_stable():
    assert len(UNSUB_TOKEN) < 40
    assert mint_unsubscribe_token(SECRET, 42) == UNSUB_TOKEN  # old emails keep working


def test_unsubscribe_wrong_secret_and_swapped_id():
    assert outcome(verify_unsubscribe_token, "other", UNSUB_TOKEN) == "bad_signature"
    _, _, mac = UNSUB_TOKEN.split(".")
    forged = f"u1.{b64url(b'43')}.{mac}"
    assert outcome(verify_unsubscribe_token, SECRET, forged) == "bad_signature"


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        ("u1.x", "malformed"),
        ("u2" + UNSUB_TOKEN[2:], "malformed"),
        (UNSUB_TOKEN + "=", "malformed"),
        (AGENT_TOKEN, "malformed"),
    ],
)
def test_unsubscribe_malformed(token, reason):
    assert outcome(verify_unsubscribe_token, SECRET, token) == reason


@pytest.mark.parametrize("label", [label for label in PURPOSE_LABELS if b"unsub" not in label])
def test_unsubscribe_mac_under_another_purpose_is_rejected(label):
    _, encoded, _ = UNSUB_TOKEN.split(".")
    mac = hmac.new(SECRET.encode(), label + encoded.encode(), hashlib.sha256).digest()[:16]
    forged = f"u1.{encoded}.{b64url(mac)}"
    assert outcome(verify_unsubscribe_token, SECRET, forged) == "bad_signature"


@FAST
@given(st.data())
def test_any_single_byte_tamper_of_an_unsubscribe_token_fails(data):
    index = data.draw(st.integers(0, len(UNSUB_TOKEN) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != ord(UNSUB_TOKEN[index])))
    with pytest.raises(TokenError):
        verify_unsubscribe_token(SECRET, tamper(UNSUB_TOKEN, index, value))


# --- CSRF -----------------------------------------------------------------------------------


def test_csrf_round_trip_and_fresh_nonces():
    first, second = mint_csrf_token(SECRET, "sess-1"), mint_csrf_token(SECRET, "sess-1")
    assert first != second
    assert verify_csrf_token(SECRET, "sess-1", first) and verify_csrf_token(
        SECRET, "sess-1", second
    )


def test_csrf_bound_to_session_and_secret():
    token = mint_csrf_token(SECRET, "sess-1")
    assert not verify_csrf_token(SECRET, "sess-2", token)
    assert not verify_csrf_token("other", "sess-1", token)
    assert not verify_csrf_token(SECRET, "", token)
    with pytest.raises(ValueError):
        mint_csrf_token(SECRET, "")


@pytest.mark.parametrize(
    "token", [None, "", "x.y", 5, "é" * 66, AGENT_TOKEN, UNSUB_TOKEN, customer_hmac(SECRET, "s")]
)
def test_csrf_rejects_garbage_and_other_purposes(token):
    assert verify_csrf_token(SECRET, "sess-1", token) is False


CSRF_TOKEN = mint_csrf_token(SECRET, "sess-1")


@FAST
@given(st.data())
def test_any_single_byte_tamper_of_a_csrf_token_fails(data):
    index = data.draw(st.integers(0, len(CSRF_TOKEN) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != ord(CSRF_TOKEN[index])))
    assert not verify_csrf_token(SECRET, "sess-1", tamper(CSRF_TOKEN, index, value))


# --- static keys (ingest keys, Chatwoot per-install keys) -----------------------------------


def test_key_matches():
    assert key_matches(Secret("ingest-1"), "ingest-1")
    assert not key_matches("ingest-1", "ingest-2")
    assert not key_matches("ingest-1", None)
    assert not key_matches("ingest-1", "")
    assert not key_matches("ingest-1", "ïngest-1")


def test_find_key_names_the_portal():
    keys = {"docs": Secret("k-docs"), "shop": "k-shop", "app": b"k-app"}
    assert find_key("k-shop", keys) == "shop"
    assert find_key("k-app", keys) == "app"
    assert find_key("k-none", keys) is None
    assert find_key(None, keys) is None
