"""Broker URLs: parsing, password masking, aiomqtt arguments, and TLS against a real broker."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from hyperhub.errors import BrokerError
from hyperhub.fabric.broker import free_port, mosquitto_binary
from hyperhub.fabric.broker_url import BrokerURL, mask_password


def test_parse_full_url() -> None:
    url = BrokerURL.parse("mqtt://hub:s3cret@broker.lan:1884")
    assert (url.host, url.port, url.username, url.password) == ("broker.lan", 1884, "hub", "s3cret")
    assert url.tls is False and url.ca_file is None


def test_default_ports() -> None:
    assert BrokerURL.parse("mqtt://broker.lan").port == 1883
    secure = BrokerURL.parse("mqtts://broker.lan")
    assert (secure.port, secure.tls) == (8883, True)


def test_percent_encoded_credentials() -> None:
    url = BrokerURL.parse("mqtt://us%40er:p%3A%2Fss@broker.lan")
    assert (url.username, url.password) == ("us@er", "p:/ss")
    assert url.render(show_password=True) == "mqtt://us%40er:p%3A%2Fss@broker.lan:1883"


def test_ipv6_host() -> None:
    url = BrokerURL.parse("mqtt://[::1]:1884")
    assert (url.host, url.port) == ("::1", 1884)
    assert str(url) == "mqtt://[::1]:1884"


def test_tls_options(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not checked at parse time beyond existing")
    url = BrokerURL.parse(f"mqtts://node:pw@emqx.lan:8883?ca={ca}&insecure=1")
    assert (url.tls, url.ca_file, url.insecure) == (True, ca, True)
    assert str(url) == f"mqtts://node:***@emqx.lan:8883?ca={ca}&insecure=1"


def test_str_and_repr_hide_the_password() -> None:
    url = BrokerURL.parse("mqtt://hub:s3cret@broker.lan:1883")
    assert str(url) == "mqtt://hub:***@broker.lan:1883"
    assert "s3cret" not in repr(url)


def test_mask_password_in_raw_text() -> None:
    assert mask_password("mqtt://hub:p@ss@host:1883") == "mqtt://hub:***@host:1883"
    assert mask_password("mqtt://host:1883") == "mqtt://host:1883"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://hub:s3cret@host", "scheme 'http' is not supported"),
        ("ws://hub:s3cret@host", "scheme 'ws' is not supported"),
        ("mqtt://hub:s3cret@", "no host"),
        ("mqtt://hub:s3cret@host:99999", "out of range"),
        ("mqtt://hub:s3cret@host:abc", "expected mqtt://"),
        ("mqtt://hub:s3cret@host:0", "port 0"),
        ("mqtt://hub:s3cret@host/topic", "has no path"),
        ("mqtt://hub:s3cret@host?ca=/etc/ssl/ca.pem", "need TLS"),
        ("mqtts://hub:s3cret@host?verify=0", "unknown option"),
        ("mqtts://hub:s3cret@host?ca=/nonexistent/ca.pem", "not found"),
        ("mqtts://hub:s3cret@host?insecure=maybe", "insecure='maybe'"),
        ("broker.lan:1883", "no scheme"),
    ],
)
def test_bad_urls_are_named_with_the_password_masked(url: str, why: str) -> None:
    with pytest.raises(BrokerError, match="bad broker URL") as caught:
        BrokerURL.parse(url)
    message = str(caught.value)
    assert why in message
    assert "s3cret" not in message
    assert mask_password(url) in message


def test_client_kwargs_plain() -> None:
    assert BrokerURL.parse("mqtt://hub:pw@host:1884").client_kwargs() == {
        "hostname": "host",
        "port": 1884,
        "username": "hub",
        "password": "pw",
    }
    assert BrokerURL.parse("mqtt://host").client_kwargs() == {"hostname": "host", "port": 1883}


def test_client_kwargs_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.touch()
    kwargs = BrokerURL.parse(f"mqtts://host?ca={ca}").client_kwargs()
    assert kwargs["tls_params"].ca_certs == str(ca)
    assert kwargs["tls_params"].cert_reqs == ssl.CERT_REQUIRED
    assert "tls_insecure" not in kwargs
    insecure = BrokerURL.parse("mqtts://host?insecure=1").client_kwargs()
    assert insecure["tls_params"].cert_reqs == ssl.CERT_NONE
    assert insecure["tls_insecure"] is True


# -- an external TLS broker ----------------------------------------------------------------
@pytest.fixture
def tls_broker(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """A plain, unsupervised Mosquitto with a self-signed certificate for 127.0.0.1."""
    binary = mosquitto_binary()
    if binary is None or shutil.which("openssl") is None:
        pytest.skip("needs mosquitto and openssl")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    port = free_port("127.0.0.1")
    conf = tmp_path / "tls.conf"
    user = pwd.getpwuid(os.geteuid()).pw_name  # as root, mosquitto would drop to "mosquitto"
    conf.write_text(
        f"listener {port} 127.0.0.1\ncertfile {cert}\nkeyfile {key}\n"
        f"allow_anonymous true\nuser {user}\n"
    )
    proc = subprocess.Popen(
        [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            assert time.monotonic() < deadline, "TLS mosquitto did not start"
            time.sleep(0.02)
        yield port, cert
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_mqtts_with_ca_file_connects(tls_broker, run) -> None:
    port, cert = tls_broker
    url = BrokerURL.parse(f"mqtts://127.0.0.1:{port}?ca={cert}")

    async def main() -> None:
        async with aiomqtt.Client(**url.client_kwargs()) as client:
            await client.publish("hyperhub/test/lamp/set", b"{}", qos=1)

    run(main())


def test_mqtts_without_trusted_ca_is_refused(tls_broker, run) -> None:
    port, _ = tls_broker
    url = BrokerURL.parse(f"mqtts://127.0.0.1:{port}")

    async def main() -> None:
        async with aiomqtt.Client(**url.client_kwargs()):
            pass

    with pytest.raises((aiomqtt.MqttError, ssl.SSLError)):
        run(main())


def test_mqtts_insecure_skips_verification(tls_broker, run) -> None:
    port, _ = tls_broker
    url = BrokerURL.parse(f"mqtts://127.0.0.1:{port}?insecure=1")

    async def main() -> None:
        async with aiomqtt.Client(**url.client_kwargs()) as client:
            await client.publish("hyperhub/test/lamp/set", b"{}", qos=1)

    run(main())
