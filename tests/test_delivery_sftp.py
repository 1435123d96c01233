"""SFTP destinations against a real OpenSSH server on 127.0.0.1 (tests/sshd.py), no fakes.

The server tests skip (with the reason) when not root or sshd is missing; the host key and private
key parsing tests run anyway (they need only ssh-keygen)."""

from __future__ import annotations

import base64
import re
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed25519

from tests.sshd import keygen, running_sshd, skip_reason
from workbench.delivery.sftp import (
    HostKey,
    SftpTarget,
    check_private_key,
    fetch_host_key,
    open_sftp,
    parse_host_key,
    test_destination,
)
from workbench.errors import InvalidInput, SftpError
from workbench.settings import Secret

PASSPHRASE = "correct horse battery"


def fingerprint_by_ssh_keygen(public_key: Path) -> str:
    return subprocess.run(["ssh-keygen", "-lf", str(public_key)], capture_output=True, text=True,
                          check=True).stdout.split()[1]


@pytest.fixture(scope="module")
def keys(tmp_path_factory) -> dict[str, Path]:
    """Client key pairs made by ssh-keygen: name -> private key file (public: + .pub)."""
    folder = tmp_path_factory.mktemp("keys")
    return {
        "ed25519": keygen(folder / "ed25519", "ed25519"),
        "ed25519_passphrase": keygen(folder / "ed25519_pp", "ed25519", passphrase=PASSPHRASE),
        "rsa_pem": keygen(folder / "rsa_pem", "rsa", "-b", "2048", "-m", "PEM"),
        "rsa_pem_passphrase": keygen(folder / "rsa_pem_pp", "rsa", "-b", "2048", "-m", "PEM",
                                     passphrase=PASSPHRASE),
        "rsa_openssh": keygen(folder / "rsa_openssh", "rsa", "-b", "2048"),
        "ecdsa": keygen(folder / "ecdsa", "ecdsa"),
        "ecdsa_pem": keygen(folder / "ecdsa_pem", "ecdsa", "-b", "384", "-m", "PEM"),
        "stranger": keygen(folder / "stranger", "ed25519"),  # not authorized on the server
        "other_host": keygen(folder / "other_host", "ed25519"),  # a host key the server lacks
        "other_host_ecdsa": keygen(folder / "other_host_ecdsa", "ecdsa"),
    }


@pytest.fixture(scope="module")
def sshd(keys):
    reason = skip_reason()
    if reason:
        pytest.skip(reason)
    with running_sshd() as server:
        server.authorize(*(Path(f"{keys[name]}.pub") for name in keys
                           if name not in ("stranger", "other_host", "other_host_ecdsa")))
        yield server


def target(sshd, path: str | None = None, **overrides) -> SftpTarget:
    fields = {"host": sshd.host, "port": sshd.port, "path": str(sshd.writable),
              "username": sshd.user, "host_key": sshd.host_key_line()}
    if path is not None:
        fields["path"] = path
    fields.update(overrides)
    return SftpTarget(**fields)


def key_secret(path: Path) -> Secret:
    return Secret(path.read_text())


def leftovers(sshd) -> list[str]:
    return sorted(p.name for p in sshd.writable.iterdir())


def expect_error(reason: str, call, *args, **kwargs) -> SftpError:
    with pytest.raises(SftpError) as caught:
        call(*args, **kwargs)
    assert caught.value.reason == reason, str(caught.value)
    assert "\n" not in str(caught.value)
    return caught.value


# --- host keys ---------------------------------------------------------------------------------


def test_fetch_host_key_is_the_servers_key_with_ssh_keygens_fingerprint(sshd):
    key = fetch_host_key(sshd.host, sshd.port, timeout=5)
    assert key.type == "ssh-ed25519"
    assert key.line == sshd.host_key_line()
    assert key.fingerprint == fingerprint_by_ssh_keygen(sshd.host_key_pub)
    assert parse_host_key(key.line) == key


@pytest.mark.parametrize("name", ["ed25519", "rsa_openssh", "ecdsa", "ecdsa_pem"])
def test_fingerprints_match_ssh_keygen(keys, name):
    public = Path(f"{keys[name]}.pub")
    key = parse_host_key(public.read_text())
    assert key.fingerprint == fingerprint_by_ssh_keygen(public)
    assert key.fingerprint.startswith("SHA256:") and not key.fingerprint.endswith("=")
    assert key.line == " ".join(public.read_text().split()[:2])


def test_parse_host_key_accepts_known_hosts_forms(keys):
    line = " ".join(Path(f"{keys['ed25519']}.pub").read_text().split()[:2])
    expected = parse_host_key(line)
    for text in (f"{line} root@server", f"[127.0.0.1]:2222 {line}", f"sftp.example.com {line} c",
                 f"host1,10.0.0.1 {line}", f"|1|abc=|def= {line}", f"  {line}\n", f"\n{line}\n\n"):
        assert parse_host_key(text) == expected, text
    assert expected.type == "ssh-ed25519"
    assert expected.line == line
    assert isinstance(expected, HostKey)


@pytest.mark.parametrize("text, message", [
    ("", "host key is empty"),
    ("   \n ", "host key is empty"),
    ("hello world", "no key type found"),
    ("ssh-ed25519", "base64 key data is missing"),
    ("ssh-ed25519 not*base64", "not valid base64"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP", "type ssh-dss is not supported"),
    ("ssh-foo AAAA", "type ssh-foo is not supported"),
    ("@cert-authority *.example.com ssh-ed25519 AAAA", "not a host key"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----", "not an SSH public key line"),
])
def test_parse_host_key_refuses(text, message):
    with pytest.raises(InvalidInput, match=message):
        parse_host_key(text)


def test_parse_host_key_refuses_mismatched_truncated_and_several_keys(keys):
    ed = Path(f"{keys['ed25519']}.pub").read_text().split()[1]
    rsa = Path(f"{keys['rsa_openssh']}.pub").read_text().split()[1]
    with pytest.raises(InvalidInput, match="says ssh-rsa but its data is a ssh-ed25519 key"):
        parse_host_key(f"ssh-rsa {ed}")
    truncated = base64.b64encode(base64.b64decode(rsa)[:60]).decode()
    with pytest.raises(InvalidInput, match="damaged"):
        parse_host_key(f"ssh-rsa {truncated}")
    with pytest.raises(InvalidInput, match="not a valid key"):
        parse_host_key("ssh-ed25519 AAAA")
    with pytest.raises(InvalidInput, match="exactly one key line, not 2"):
        parse_host_key(f"ssh-ed25519 {ed}\nssh-rsa {rsa}")


# --- private keys ------------------------------------------------------------------------------


@pytest.mark.parametrize("name, passphrase, kind", [
    ("ed25519", None, "ssh-ed25519"),
    ("ed25519_passphrase", PASSPHRASE, "ssh-ed25519"),
    ("rsa_pem", None, "ssh-rsa"),
    ("rsa_pem_passphrase", PASSPHRASE, "ssh-rsa"),
    ("rsa_openssh", None, "ssh-rsa"),
    ("ecdsa", None, "ecdsa-sha2-nistp256"),
    ("ecdsa_pem", None, "ecdsa-sha2-nistp384"),
    ("ed25519", "not needed", "ssh-ed25519"),  # like ssh-keygen -y -P: an unneeded one is ignored
])
def test_check_private_key_accepts(keys, name, passphrase, kind):
    assert check_private_key(key_secret(keys[name]),
                             Secret(passphrase) if passphrase else None) == kind


def test_check_private_key_reads_pkcs8_pem():
    ed = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSPHRASE.encode())).decode()
    assert "BEGIN ENCRYPTED PRIVATE KEY" in ed
    assert check_private_key(Secret(ed), Secret(PASSPHRASE)) == "ssh-ed25519"
    ecdsa = ec.generate_private_key(ec.SECP521R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    assert check_private_key(Secret(ecdsa), None) == "ecdsa-sha2-nistp521"


def pem(key) -> str:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


@pytest.mark.parametrize("name, passphrase, message", [
    ("ed25519_passphrase", "wrong", "private key: wrong passphrase"),
    ("ed25519_passphrase", None, "private key is encrypted; give its passphrase"),
    ("ed25519_passphrase", "", "private key is encrypted; give its passphrase"),
    ("rsa_pem_passphrase", "wrong", "private key: wrong passphrase"),
    ("rsa_pem_passphrase", None, "private key is encrypted; give its passphrase"),
])
def test_check_private_key_passphrase_problems(keys, name, passphrase, message):
    text = keys[name].read_text()
    with pytest.raises(InvalidInput) as caught:
        check_private_key(Secret(text), Secret(passphrase) if passphrase is not None else None)
    assert str(caught.value) == message
    assert_no_key_text(str(caught.value), text)


def test_check_private_key_refuses_garbage_and_other_keys(keys):
    ed = keys["ed25519"].read_text()
    lines = ed.splitlines()
    cases = {
        "": "private key is empty",
        "not a key at all": "not a PEM or OpenSSH private key",
        Path(f"{keys['ed25519']}.pub").read_text(): "this is a public key",
        "\n".join(lines[:3] + lines[-1:]): "cannot be read (damaged or truncated)",
        "\n".join(lines[:1] + ["A" + line[1:] for line in lines[1:-1]] + lines[-1:]):
            "cannot be read",
        "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\n": "PuTTY .ppk keys are not supported",
        pem(dsa.generate_private_key(1024)): "DSA keys are not supported",
        pem(ec.generate_private_key(ec.SECP256K1())): "curve secp256k1 is not supported",
    }
    for text, message in cases.items():
        with pytest.raises(InvalidInput) as caught:
            check_private_key(Secret(text), None)
        assert message in str(caught.value), (message, str(caught.value))
        assert "\n" not in str(caught.value)
        assert_no_key_text(str(caught.value), text)


def assert_no_key_text(message: str, key_text: str) -> None:
    for line in key_text.splitlines():
        if len(line) >= 16 and "-----" not in line:
            assert line[:16] not in message


# --- the target ---------------------------------------------------------------------------------


def test_target_repr_never_shows_secrets():
    shown = SftpTarget("h", 22, "/x", "u", "ssh-ed25519 AAAA", password=Secret("hunter2-pw"),
                       private_key=Secret("-----BEGIN KEY-----"), passphrase=Secret("pp-9876"))
    text = repr(shown) + str(shown) + f"{shown}"
    for secret in ("hunter2-pw", "BEGIN KEY", "pp-9876"):
        assert secret not in text
    assert "password=Secret('********')" in text and "passphrase=Secret('********')" in text
    assert "passphrase" not in repr(SftpTarget("h", 22, "/x", "u", "k", password=Secret("p")))
    with pytest.raises(TypeError, match="password must be a Secret"):
        SftpTarget("h", 22, "/x", "u", "k", password="plain text")  # type: ignore[arg-type]


def test_target_without_credentials_or_with_a_bad_address_is_invalid(sshd):
    with pytest.raises(InvalidInput, match="give a password or a private key"):
        test_destination(target(sshd))
    with pytest.raises(InvalidInput, match="not a TCP port"):
        test_destination(target(sshd, port=0, password=Secret("x")))
    with pytest.raises(InvalidInput, match="host key"):
        test_destination(target(sshd, host_key="nonsense", password=Secret("x")))


# --- testing a destination: passes ----------------------------------------------------------


def expected_steps(sshd) -> list[str]:
    fingerprint = fingerprint_by_ssh_keygen(sshd.host_key_pub)
    path = str(sshd.writable)
    return [f"connected to 127.0.0.1:{sshd.port}", f"host key matches {fingerprint}",
            f"logged in as {sshd.user}", f"path {path} exists",
            f"path {path} is writable (probe file written, renamed and removed)"]


def test_passes_with_password(sshd):
    assert test_destination(target(sshd, password=Secret(sshd.password)), timeout=5) == \
        expected_steps(sshd)
    assert leftovers(sshd) == []


@pytest.mark.parametrize("name, passphrase", [
    ("ed25519", None),
    ("rsa_pem", None),
    ("rsa_openssh", None),
    ("ed25519_passphrase", PASSPHRASE),
    ("rsa_pem_passphrase", PASSPHRASE),
    ("ecdsa", None),
])
def test_passes_with_key(sshd, keys, name, passphrase):
    pinned = target(sshd, private_key=key_secret(keys[name]),
                    passphrase=Secret(passphrase) if passphrase else None)
    start = len(sshd.log_text())
    assert test_destination(pinned, timeout=5) == expected_steps(sshd)
    assert leftovers(sshd) == []
    fingerprint = fingerprint_by_ssh_keygen(Path(f"{keys[name]}.pub"))
    assert sshd.wait_for_log(f"Accepted publickey for {sshd.user} .* {re.escape(fingerprint)}",
                             start)


def test_passes_with_a_known_hosts_line_as_pin(sshd):
    pinned = target(sshd, host_key=f"[127.0.0.1]:{sshd.port} {sshd.host_key_pub.read_text()}",
                    password=Secret(sshd.password))
    assert test_destination(pinned, timeout=5)[-1].endswith("removed)")


def test_a_pinned_rsa_host_key_is_the_one_negotiated(sshd):
    # The server holds ed25519 and RSA host keys and prefers ed25519; pinned to its RSA key, the
    # client asks for that type only, so the server proves the pinned key instead of failing.
    rsa_line = " ".join(sshd.rsa_host_key_pub.read_text().split()[:2])
    steps = test_destination(target(sshd, host_key=rsa_line, password=Secret(sshd.password)),
                             timeout=5)
    assert steps[1] == f"host key matches {fingerprint_by_ssh_keygen(sshd.rsa_host_key_pub)}"
    assert fetch_host_key(sshd.host, sshd.port, timeout=5).type == "ssh-ed25519"


def test_open_sftp_gives_a_logged_in_client(sshd):
    with open_sftp(target(sshd, password=Secret(sshd.password)), timeout=5) as sftp:
        with sftp.open(f"{sshd.writable}/hello.csv", "w") as handle:
            handle.write(b"customer_id\n1\n")
        channel = sftp.get_channel()
    assert (sshd.writable / "hello.csv").read_bytes() == b"customer_id\n1\n"
    assert channel.closed and not channel.get_transport().is_active()
    (sshd.writable / "hello.csv").unlink()


# --- testing a destination: each failure -----------------------------------------------------


def test_wrong_password(sshd):
    error = expect_error("authentication", test_destination,
                         target(sshd, password=Secret("wrong-pass-1234")), timeout=5)
    assert str(error) == (f"login as {sshd.user} on 127.0.0.1:{sshd.port} failed: the server did "
                          "not accept the credentials")
    assert leftovers(sshd) == []


def test_wrong_key(sshd, keys):
    error = expect_error("authentication", test_destination,
                         target(sshd, private_key=key_secret(keys["stranger"])), timeout=5)
    assert "did not accept the credentials" in str(error)
    assert "BEGIN" not in str(error)


def test_unknown_user(sshd):
    error = expect_error("authentication", test_destination,
                         target(sshd, username="nosuchuser", password=Secret(sshd.password)),
                         timeout=5)
    assert sshd.password not in str(error)


def test_unusable_stored_key_is_an_authentication_failure(sshd, keys):
    error = expect_error("authentication", test_destination,
                         target(sshd, private_key=key_secret(keys["ed25519_passphrase"]),
                                passphrase=Secret("wrong")), timeout=5)
    assert str(error) == "the destination's private key: wrong passphrase"


def test_changed_host_key_stops_before_anything_is_sent(sshd, keys):
    other = parse_host_key(Path(f"{keys['other_host']}.pub").read_text())
    real = fingerprint_by_ssh_keygen(sshd.host_key_pub)
    start = len(sshd.log_text())
    error = expect_error("host_key", test_destination,
                         target(sshd, host_key=other.line, password=Secret(sshd.password)),
                         timeout=5)
    assert str(error) == (f"host key of 127.0.0.1:{sshd.port} does not match the pinned key: the "
                          f"server has ssh-ed25519 {real}, pinned is ssh-ed25519 "
                          f"{other.fingerprint}; nothing was sent (pin the new key again only if "
                          "the change is expected)")
    assert leftovers(sshd) == []
    # The server saw the key exchange and then the client leave, and no login request at all.
    assert sshd.wait_for_log(r"Connection (closed|reset) by 127\.0\.0\.1 port \d+ \[preauth\]", start)
    log = sshd.log_text()[start:]
    assert "KEX done" in log
    for trace in ("userauth-request", "Accepted", "Failed", "service_request", sshd.user):
        assert trace not in log, trace


def test_pinned_key_of_a_type_the_server_lacks(sshd, keys):
    other = parse_host_key(Path(f"{keys['other_host_ecdsa']}.pub").read_text())
    start = len(sshd.log_text())
    error = expect_error("host_key", test_destination,
                         target(sshd, host_key=other.line, password=Secret(sshd.password)),
                         timeout=5)
    assert str(error) == (f"127.0.0.1:{sshd.port} offers no ecdsa-sha2-nistp256 host key, so it cannot prove "
                          f"the pinned key {other.fingerprint}; nothing was sent")
    assert sshd.wait_for_log(r"no matching host key type|Connection (closed|reset) by", start)
    assert "userauth-request" not in sshd.log_text()[start:]


def test_missing_path(sshd):
    error = expect_error("missing_path", test_destination,
                         target(sshd, f"{sshd.home}/nope", password=Secret(sshd.password)),
                         timeout=5)
    assert str(error) == f"path {sshd.home}/nope does not exist on 127.0.0.1:{sshd.port}"


def test_path_that_is_a_file(sshd):
    error = expect_error("missing_path", test_destination,
                         target(sshd, f"{sshd.home}/.profile", password=Secret(sshd.password)),
                         timeout=5)
    assert "is not a folder" in str(error)


def test_read_only_path(sshd):
    error = expect_error("not_writable", test_destination,
                         target(sshd, str(sshd.readonly), password=Secret(sshd.password)),
                         timeout=5)
    assert str(error) == (f"path {sshd.readonly} on 127.0.0.1:{sshd.port} is not writable: cannot "
                          "create a file (permission denied)")
    assert list(sshd.readonly.iterdir()) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the block ends


def test_closed_port():
    port = closed_port()
    error = expect_error("refused", test_destination,
                         SftpTarget("127.0.0.1", port, "/", "u", "ssh-ed25519 " + ED25519_SAMPLE,
                                    password=Secret("x")), timeout=5)
    assert str(error) == f"connection to 127.0.0.1:{port} refused (no SSH server listening on " \
                         f"port {port})"
    expect_error("refused", fetch_host_key, "127.0.0.1", port, timeout=5)


def test_unresolvable_name():
    started = time.monotonic()
    error = expect_error("resolution", test_destination,
                         SftpTarget("sftp.workbench-test.invalid", 22, "/", "u",
                                    "ssh-ed25519 " + ED25519_SAMPLE, password=Secret("x")),
                         timeout=5)
    assert str(error).startswith("host name sftp.workbench-test.invalid does not resolve (")
    assert time.monotonic() - started < 5


def test_server_that_never_answers_times_out():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes the TCP handshake; nobody ever accepts or writes
        port = silent.getsockname()[1]
        pinned = SftpTarget("127.0.0.1", port, "/", "u", "ssh-ed25519 " + ED25519_SAMPLE,
                            password=Secret("x"))
        for call, args in ((test_destination, (pinned,)), (fetch_host_key, ("127.0.0.1", port))):
            started = time.monotonic()
            error = expect_error("timeout", call, *args, timeout=0.8)
            assert 0.7 < time.monotonic() - started < 2.5
            assert f"127.0.0.1:{port}" in str(error) and "0.8 s" in str(error)


def test_a_server_that_is_not_ssh_is_a_protocol_error():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]

        def answer_like_http():
            peer, _ = server.accept()
            with peer:
                peer.sendall(b"HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n")

        thread = threading.Thread(target=answer_like_http, daemon=True)
        thread.start()
        error = expect_error("protocol", fetch_host_key, "127.0.0.1", port, timeout=5)
        thread.join(5)
    assert str(error) == f"127.0.0.1:{port} closed the connection during the SSH handshake"


ED25519_SAMPLE = "AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
