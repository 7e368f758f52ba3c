"""`autoglm serve` over TLS: a certificate made here, the gateway as a real process, the official client verifying."""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from openautoglm.server.keys import KeyRing
from openautoglm.store import Store

CLI = [sys.executable, "-c", "from openautoglm.cli import main; main()"]


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by its own key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "autoglm-test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("where", ["flags", "autoglm.yaml"])
def test_the_gateway_serves_https_with_the_given_certificate_and_refuses_plain_http(
        isolated_home: Path, tmp_path: Path, where: str) -> None:
    cert, key = self_signed(tmp_path)
    store = Store(f"sqlite:///{isolated_home / 'autoglm.db'}")
    admin, _ = KeyRing(store).create("admin", "tls-test")
    store.close()
    port = free_port()
    if where == "flags":
        args = ["serve", "--port", str(port), "--tls-cert", str(cert), "--tls-key", str(key)]
    else:
        config = tmp_path / "autoglm.yaml"
        config.write_text(f"gateway:\n  tls_cert: {cert}\n  tls_key: {key}\n")
        args = ["serve", "--port", str(port), "--config", str(config)]
    proc = subprocess.Popen([*CLI, *args], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "AUTOGLM_HOME": str(isolated_home)})
    trusted = ssl.create_default_context(cafile=str(cert))
    base = f"https://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", verify=trusted).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "the gateway did not start"
            time.sleep(0.2)
        with httpx.Client(verify=trusted) as http, openai.OpenAI(base_url=f"{base}/v1", api_key=admin,
                                                                   http_client=http, max_retries=0) as client:
            assert "autoglm" in [m.id for m in client.models.list()]
            with pytest.raises(openai.AuthenticationError):  # TLS changes the transport, not who may call
                openai.OpenAI(base_url=f"{base}/v1", api_key="agk_nobody_x", http_client=http,
                              max_retries=0).models.list()
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):  # a client not trusting it
            httpx.get(f"{base}/healthz")
        with pytest.raises(httpx.HTTPError):  # plain HTTP to the TLS port gets no answer
            httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=20)
    assert f"gateway on https://127.0.0.1:{port}" in err


def test_tls_needs_both_files_and_says_so_in_one_line(isolated_home: Path, tmp_path: Path) -> None:
    cert, _ = self_signed(tmp_path)
    half = subprocess.run([*CLI, "serve", "--port", str(free_port()), "--tls-cert", str(cert)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, "AUTOGLM_HOME": str(isolated_home)})
    assert half.returncode != 0 and "Traceback" not in half.stderr
    assert half.stderr.strip().splitlines()[-1].startswith("autoglm: error: TLS needs both a certificate and its key")
    missing = subprocess.run([*CLI, "serve", "--tls-cert", str(cert), "--tls-key", str(tmp_path / "nope.pem")],
                             capture_output=True, text=True, timeout=60,
                             env={**os.environ, "AUTOGLM_HOME": str(isolated_home)})
    assert missing.returncode != 0
    assert f"autoglm: error: TLS key file not found: {tmp_path / 'nope.pem'}" in missing.stderr
