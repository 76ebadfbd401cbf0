"""docs/deploy.md's nginx site file, run by a real nginx in front of a real
`journeydesk serve` (skipped, with the reason, where nginx is not installed)."""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.helpers.cli import ROOT
from tests.helpers.serve_process import free_port, running, write_serve_config

HOST = "journeydesk.example.com"
pytestmark = pytest.mark.usefixtures("backend")  # the documented site before either store


def nginx_blocks() -> list[str]:
    text = (ROOT / "docs" / "deploy.md").read_text(encoding="utf-8")
    return re.findall(r"```nginx\n(.*?)```", text, flags=re.S)


def test_the_documented_nginx_site_serves_journeydesk_over_https(tmp_path):
    nginx = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx); .ci/run installs it in CI")
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    site, log_format = nginx_blocks()
    cert, key = _self_signed(tmp_path)
    site = _substitute(
        site,
        {
            "listen 80;": f"listen 127.0.0.1:{http_port};",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
            f"/etc/letsencrypt/live/{HOST}/fullchain.pem": str(cert),
            f"/etc/letsencrypt/live/{HOST}/privkey.pem": str(key),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{app_port};",
            "/var/log/nginx/journeydesk.access.log": str(tmp_path / "access.log"),
        },
    )
    conf = _nginx_conf(tmp_path, site, log_format)
    config = write_serve_config(tmp_path, app_port)
    with running(["serve", "--config", str(config)], tmp_path, app_port) as app:
        proxy = subprocess.Popen(
            [nginx, "-p", str(tmp_path), "-c", str(conf), "-g", "daemon off;"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            health = _get_when_up(proxy, f"https://127.0.0.1:{https_port}/healthz", cert)
            redirect = requests.get(
                f"http://127.0.0.1:{http_port}/healthz", allow_redirects=False, timeout=10
            )
            requests.get(
                f"https://127.0.0.1:{https_port}/sidebar/demo/1?token=SECRET-proxy",
                verify=str(cert),
                timeout=10,
            )
        finally:
            proxy.terminate()
            proxy.wait(timeout=30)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    assert redirect.status_code == 301
    assert redirect.headers["Location"].startswith("https://")
    nginx_log = (tmp_path / "access.log").read_text(encoding="utf-8")
    assert "GET /sidebar/demo/1 " in nginx_log and "SECRET" not in nginx_log
    assert "GET /sidebar/demo/1?token=[redacted]" in app.log() and "SECRET" not in app.log()


def _substitute(text: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in text, f"docs/deploy.md's nginx site no longer has {old!r}"
        text = text.replace(old, new)
    return text


def _nginx_conf(folder: Path, site: str, log_format: str) -> Path:
    (folder / "logs").mkdir()
    (folder / "site.conf").write_text(site, encoding="utf-8")
    # Run as root (a test harness), nginx's workers would drop to `nobody`, who cannot
    # write the test's private temp folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    conf = folder / "nginx.conf"
    conf.write_text(
        f"""{user}worker_processes 1;
pid {folder}/nginx.pid;
error_log {folder}/logs/error.log warn;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {folder}/client_body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    {log_format}
    include {folder}/site.conf;
}}
""",
        encoding="utf-8",
    )
    return conf


def _get_when_up(proxy: subprocess.Popen, url: str, cert: Path) -> requests.Response:
    deadline = time.monotonic() + 30
    while True:
        if proxy.poll() is not None:
            raise AssertionError(f"nginx exited: {proxy.stdout.read()}")
        try:
            return requests.get(url, verify=str(cert), timeout=10)
        except requests.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _self_signed(folder: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, HOST)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(HOST), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path
