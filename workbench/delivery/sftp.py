"""SFTP destinations: a thin paramiko adapter (no store, no CLI; the destinations service calls it).

The server's host key is pinned: the transport negotiates only the pinned key's type, and the key the
server proves it holds is compared with the pinned one before anything else is sent; a mismatch
closes the connection at once, so no user name, password or key signature ever reaches a server
that is not the pinned one. The user's known_hosts and paramiko's AutoAddPolicy are never used.

Every failure is one ``SftpError(message, reason)`` line; no message holds a secret, and key
parsing errors never echo key text. Reasons: resolution, refused, timeout, host_key,
authentication, missing_path, not_writable, protocol.
"""

from __future__ import annotations

import base64
import binascii
import errno
import hashlib
import io
import posixpath
import secrets
import socket
import stat
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import ClassVar

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ..errors import InvalidInput, SftpError
from ..settings import Secret

PROBE_PREFIX = ".workbench-probe-"

# Host key types paramiko can verify (ssh-dss is gone from OpenSSH and paramiko).
HOST_KEY_TYPES = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                  "ssh-rsa")
# Signature algorithms the transport may negotiate for a pinned key of each type.
_HOST_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256", "ssh-rsa")}
_SECRET_FIELDS = ("password", "private_key", "passphrase")


@dataclass(frozen=True, repr=False)
class SftpTarget:
    kind: ClassVar[str] = "sftp"
    host: str
    port: int
    path: str
    username: str
    host_key: str
    password: Secret | None = None
    private_key: Secret | None = None
    passphrase: Secret | None = None

    def __post_init__(self):
        # A plain str here would show itself in a repr or a traceback: refuse it outright.
        for name in _SECRET_FIELDS:
            value = getattr(self, name)
            if value is not None and not isinstance(value, Secret):
                raise TypeError(f"SftpTarget.{name} must be a Secret or None, "
                                f"not {type(value).__name__}")

    def __repr__(self) -> str:
        shown = [f"{name}={getattr(self, name)!r}"
                 for name in ("host", "port", "path", "username", "host_key")]
        # Only whether a secret is set, with a fixed mask; never the Secret object's own repr.
        shown += [f"{name}=Secret('********')" for name in _SECRET_FIELDS if getattr(self, name)]
        return f"SftpTarget({', '.join(shown)})"

    @property
    def where(self) -> str:
        return _where(self.host, self.port)

    @property
    def location(self) -> str:
        from . import location

        return location(self.host, self.port, self.path)


@dataclass(frozen=True)
class HostKey:
    """A public host key: ``type`` (ssh-ed25519, ...), ``line`` ("type base64"), ``fingerprint``
    ("SHA256:..." as ``ssh-keygen -lf`` prints it)."""

    type: str
    line: str
    fingerprint: str

    @property
    def blob(self) -> bytes:
        return base64.b64decode(self.line.split()[1])

    @classmethod
    def from_blob(cls, key_type: str, blob: bytes) -> HostKey:
        digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
        return cls(key_type, f"{key_type} {base64.b64encode(blob).decode()}", f"SHA256:{digest}")

    @classmethod
    def from_pkey(cls, key: paramiko.PKey) -> HostKey:
        return cls.from_blob(key.get_name(), key.asbytes())

    def matches(self, key: paramiko.PKey) -> bool:
        return key.get_name() == self.type and key.asbytes() == self.blob

    def __str__(self) -> str:
        return f"{self.type} {self.fingerprint}"


def parse_host_key(line: str) -> HostKey:
    """A known_hosts-style line: ``ssh-ed25519 AAAA... [comment]``, optionally after a host field
    (``host``, ``[host]:port``, ``host1,host2`` or a hashed ``|1|...``)."""
    if not isinstance(line, str):
        raise InvalidInput("host key: give the server's public key as text such as "
                           "'ssh-ed25519 AAAA...'")
    lines = [text for text in line.strip().splitlines() if text.strip()]
    if not lines:
        raise InvalidInput("host key is empty; give the server's public key such as "
                           "'ssh-ed25519 AAAA...' (ssh-keyscan prints it)")
    if len(lines) > 1:
        raise InvalidInput(f"host key: give exactly one key line, not {len(lines)}")
    fields = lines[0].split()
    if fields[0].startswith("@"):
        raise InvalidInput(f"host key: a {fields[0]} line is not a host key; give the server's "
                           "own public key")
    if "PRIVATE KEY" in lines[0] or fields[0].startswith("-----"):
        raise InvalidInput("host key: this is not an SSH public key line; give the server's "
                           "public key such as 'ssh-ed25519 AAAA...'")
    position = next((i for i, field in enumerate(fields[:2]) if _looks_like_type(field)), None)
    if position is None:
        raise InvalidInput("host key: no key type found; expected a line such as "
                           "'ssh-ed25519 AAAA...' (optionally after a host field)")
    key_type = fields[position]
    if key_type not in HOST_KEY_TYPES:
        raise InvalidInput(f"host key: type {key_type} is not supported; use one of "
                           f"{', '.join(HOST_KEY_TYPES)}")
    if len(fields) <= position + 1:
        raise InvalidInput(f"host key: the base64 key data is missing after {key_type}")
    try:
        blob = base64.b64decode(fields[position + 1], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("host key: the key data is not valid base64") from None
    embedded = _blob_type(blob)
    if embedded != key_type:
        what = f"a {embedded} key" if embedded else "not a valid key"
        raise InvalidInput(f"host key: the line says {key_type} but its data is {what}")
    if not _valid_public_blob(key_type, blob):
        raise InvalidInput(f"host key: the {key_type} key data is damaged (truncated or "
                           "altered)")
    return HostKey.from_blob(key_type, blob)


def _looks_like_type(field: str) -> bool:
    return field.startswith(("ssh-", "ecdsa-", "sk-")) or field in HOST_KEY_TYPES


_CURVES = {"nistp256": ec.SECP256R1, "nistp384": ec.SECP384R1, "nistp521": ec.SECP521R1}


def _valid_public_blob(key_type: str, blob: bytes) -> bool:
    """The public key blob holds exactly the fields of its type (RFC 4253, 5656, 8709), and the
    key material is a valid key (paramiko pads short data with zeros instead of refusing it)."""
    fields = _ssh_strings(blob)
    try:
        if key_type == "ssh-ed25519":
            return fields is not None and len(fields) == 2 and len(fields[1]) == 32
        if key_type == "ssh-rsa":
            if fields is None or len(fields) != 3:
                return False
            e, n = (int.from_bytes(value, "big", signed=True) for value in fields[1:])
            rsa.RSAPublicNumbers(e, n).public_key()
            return n.bit_length() >= 1024
        curve = key_type.removeprefix("ecdsa-sha2-")
        if fields is None or len(fields) != 3 or fields[1] != curve.encode():
            return False
        ec.EllipticCurvePublicKey.from_encoded_point(_CURVES[curve](), fields[2])
        return True
    except (ValueError, KeyError):
        return False


def _ssh_strings(blob: bytes) -> list[bytes] | None:
    """The length-prefixed fields of ``blob``, or None unless they fill it exactly."""
    fields, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            return None
        (length,) = struct.unpack(">I", blob[offset:offset + 4])
        offset += 4
        if offset + length > len(blob):
            return None
        fields.append(blob[offset:offset + length])
        offset += length
    return fields


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    if length > 64 or len(blob) < 4 + length:
        return None
    try:
        return blob[4:4 + length].decode("ascii")
    except UnicodeDecodeError:
        return None


def check_private_key(text: Secret, passphrase: Secret | None) -> str:
    """The key's type (ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256, ...) if the private key can be
    used: PEM (PKCS#1, SEC1, PKCS#8) or OpenSSH format, RSA, ECDSA or Ed25519, decrypted with
    ``passphrase`` when it is encrypted. Else InvalidInput with one line that never holds key
    text."""
    return _load_private_key(text, passphrase).get_name()


def _load_private_key(text: Secret, passphrase: Secret | None) -> paramiko.PKey:
    key = _decrypted(_private_key_text(text), passphrase.reveal().encode() if passphrase else None)
    key_class = _ssh_key_class(key)
    # Whatever the input format (PKCS#1, SEC1, PKCS#8, OpenSSH), paramiko reads the OpenSSH one;
    # the unencrypted copy lives only in memory for this call.
    plain = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                              serialization.NoEncryption()).decode()
    try:
        return key_class.from_private_key(io.StringIO(plain))
    except Exception:  # noqa: BLE001
        raise InvalidInput("private key cannot be used by the SSH client") from None


def _private_key_text(text: Secret) -> str:
    """The key's text, refused early when it is plainly something else (a public key, PuTTY)."""
    raw = text.reveal() if isinstance(text, Secret) else None
    if raw is None:
        raise InvalidInput("private key: must be given as a Secret")
    raw = raw.strip()
    if not raw:
        raise InvalidInput("private key is empty; give the PEM or OpenSSH private key text")
    if raw.startswith(("ssh-", "ecdsa-", "sk-")) or "PUBLIC KEY" in raw:
        raise InvalidInput("private key: this is a public key; give the private key (the file "
                           "without .pub)")
    if raw.startswith("PuTTY-User-Key-File"):
        raise InvalidInput("private key: PuTTY .ppk keys are not supported; export it in "
                           "OpenSSH format (puttygen key.ppk -O private-openssh)")
    if "-----BEGIN" not in raw or "PRIVATE KEY-----" not in raw:
        raise InvalidInput("private key: not a PEM or OpenSSH private key (expected a "
                           "'-----BEGIN ... PRIVATE KEY-----' block)")
    return raw


def _decrypted(raw: str, password: bytes | None):
    """The key read by cryptography (PEM or OpenSSH), decrypted with ``password``."""
    data = raw.encode("utf-8", "replace") + b"\n"
    openssh = "BEGIN OPENSSH PRIVATE KEY" in raw
    loader = serialization.load_ssh_private_key if openssh else serialization.load_pem_private_key
    try:
        return loader(data, password=password)
    except TypeError as exc:
        if "not encrypted" in str(exc):
            # Like ssh-keygen -y -P: a passphrase for a key that has none is not needed.
            return _load_plain(loader, data)
        raise InvalidInput("private key is encrypted; give its passphrase") from None
    except ValueError as exc:
        raise InvalidInput(_key_error(exc, password is not None)) from None
    except Exception:  # noqa: BLE001 - cryptography raises several kinds for damaged keys
        raise InvalidInput("private key cannot be read (damaged or truncated)") from None


def _ssh_key_class(key) -> type[paramiko.PKey]:
    """paramiko's class for the key's algorithm; only what SSH accepts."""
    if isinstance(key, rsa.RSAPrivateKey):
        return paramiko.RSAKey
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return paramiko.Ed25519Key
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if key.curve.name not in ("secp256r1", "secp384r1", "secp521r1"):
            raise InvalidInput(f"private key: ECDSA curve {key.curve.name} is not supported by "
                               "SSH; use nistp256, nistp384 or nistp521")
        return paramiko.ECDSAKey
    raise InvalidInput(f"private key: {_kind(key)} keys are not supported; use RSA, ECDSA "
                       "or Ed25519")


def _load_plain(loader, data: bytes):
    try:
        return loader(data, password=None)
    except Exception:  # noqa: BLE001
        raise InvalidInput("private key cannot be read (damaged or truncated)") from None


def _key_error(exc: ValueError, had_password: bool) -> str:
    text = str(exc).lower()
    if had_password and ("password" in text or "decrypt" in text or "checksum" in text
                         or "corrupt" in text):
        return "private key: wrong passphrase"
    if "unsupported" in text and ("cipher" in text or "kdf" in text):
        return "private key: its encryption is not supported; re-encrypt it with ssh-keygen -p"
    if "unsupported" in text or "not supported" in text or "unknown" in text:
        return "private key: this key type is not supported; use RSA, ECDSA or Ed25519"
    return "private key cannot be read (damaged or truncated)"


def _kind(key) -> str:
    name = type(key).__name__.lstrip("_")
    for kind in ("DSA", "Ed448", "X25519", "X448"):
        if kind.lower() in name.lower():
            return kind
    return "this kind of"


# --- connecting -----------------------------------------------------------------------------


def fetch_host_key(host: str, port: int, timeout: float = 10) -> HostKey:
    """The server's host key (its preferred type, as an OpenSSH client would pick it), read during
    key exchange without authenticating; the caller shows it with its fingerprint for
    confirmation before pinning it."""
    _check_address(host, port)
    transport = _transport(host, port, timeout, None)
    try:
        return HostKey.from_pkey(transport.get_remote_server_key())
    finally:
        transport.close()


def test_destination(target: SftpTarget, timeout: float = 10) -> list[str]:
    """Log in with the pinned host key, check that the path is a folder and is writable (a probe
    file written, renamed and removed). Returns the steps that passed; raises SftpError on the
    first failure."""
    steps: list[str] = []
    with _session(target, timeout, steps) as sftp:
        _check_folder(sftp, target)
        steps.append(f"path {target.path} exists")
        _probe(sftp, target)
        steps.append(f"path {target.path} is writable (probe file written, renamed and removed)")
    return steps


test_destination.__test__ = False  # not a pytest test, despite its name


@contextmanager
def open_sftp(target: SftpTarget, timeout: float = 10) -> Iterator[paramiko.SFTPClient]:
    """A logged-in SFTP client (after the same host key check and login as test_destination);
    the connection is closed on leaving the block. Errors while using the client are the caller's
    to translate (``translate_error`` helps)."""
    with _session(target, timeout, []) as sftp:
        yield sftp


@contextmanager
def _session(target: SftpTarget, timeout: float, steps: list[str]) -> Iterator[paramiko.SFTPClient]:
    _check_address(target.host, target.port)
    pinned = parse_host_key(target.host_key)
    key = _client_key(target)
    if key is None and not target.password:
        raise InvalidInput(f"destination {target.where}: give a password or a private key")
    transport = _transport(target.host, target.port, timeout, pinned)
    try:
        steps.append(f"connected to {target.where}")
        steps.append(f"host key matches {pinned.fingerprint}")
        _login(transport, target, key)
        steps.append(f"logged in as {target.username}")
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
        except Exception as exc:  # noqa: BLE001
            raise _protocol(target, "the SFTP subsystem did not start", exc) from None
        if sftp is None:
            raise SftpError(f"{target.where}: the SFTP subsystem did not start", "protocol")
        sftp.get_channel().settimeout(timeout)
        try:
            yield sftp
        finally:
            # Closing a connection the server dropped raises EOFError: it must not replace
            # the error that says what went wrong.
            try:
                sftp.close()
            except Exception:  # noqa: BLE001
                pass
    finally:
        transport.close()


def _client_key(target: SftpTarget) -> paramiko.PKey | None:
    if not target.private_key:
        return None
    try:
        return _load_private_key(target.private_key, target.passphrase)
    except InvalidInput as exc:
        raise SftpError(f"the destination's {exc.message}", "authentication") from None


def _check_address(host: str, port: int) -> None:
    if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host):
        raise InvalidInput(f"host {host!r} is not a host name or address")
    if isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        raise InvalidInput(f"port {port!r} is not a TCP port (1-65535)")


def _where(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _transport(host: str, port: int, timeout: float, pinned: HostKey | None) -> paramiko.Transport:
    """A transport after key exchange: with ``pinned``, the server proved it holds that key."""
    where = _where(host, port)
    sock = _connect(host, port, timeout)
    try:
        transport = paramiko.Transport(sock)
    except Exception as exc:  # noqa: BLE001
        sock.close()
        raise SftpError(f"{where}: {_first_line(exc)}", "protocol") from None
    try:
        transport.banner_timeout = transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        if pinned is not None:
            # Negotiate the pinned key's type only: a server holding several host keys must prove
            # the pinned one, not offer another we would then refuse.
            known = paramiko.Transport._key_info
            transport.get_security_options().key_types = tuple(
                name for name in _HOST_KEY_ALGORITHMS.get(pinned.type, (pinned.type,)) if name in known)
        done = threading.Event()
        transport.start_client(event=done)
        deadline = time.monotonic() + timeout
        # paramiko sets the event on success; on failure the transport just stops being active.
        while not done.wait(0.05) and transport.is_active() and time.monotonic() < deadline:
            pass
        if transport.is_active() and not done.is_set():
            raise SftpError(f"{where} did not complete the SSH handshake within {timeout:g} s",
                            "timeout")
        if not transport.is_active():
            raise _negotiation_error(transport.get_exception(), where, timeout, pinned)
        server_key = transport.get_remote_server_key()
        if pinned is not None and not pinned.matches(server_key):
            # Nothing more is sent: the transport is closed by the caller's finally / below.
            found = HostKey.from_pkey(server_key)
            raise SftpError(f"host key of {where} does not match the pinned key: the server has "
                            f"{found.type} {found.fingerprint}, pinned is {pinned.type} "
                            f"{pinned.fingerprint}; nothing was sent (pin the new key again only "
                            "if the change is expected)", "host_key")
        return transport
    except BaseException:
        transport.close()
        raise


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    where = _where(host, port)
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise SftpError(f"host name {host} does not resolve ({_strerror(exc)})",
                        "resolution") from None
    except UnicodeError:
        raise SftpError(f"host name {host} does not resolve (not a valid name)",
                        "resolution") from None
    last: OSError | None = None
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    if isinstance(last, TimeoutError | socket.timeout):
        raise SftpError(f"connecting to {where} timed out after {timeout:g} s", "timeout")
    if isinstance(last, ConnectionRefusedError):
        raise SftpError(f"connection to {where} refused (no SSH server listening on port {port})",
                        "refused")
    # Unreachable host or network: the connection could not be made at all.
    raise SftpError(f"cannot connect to {where}: {_strerror(last)}", "refused")


def _negotiation_error(exc: BaseException | None, where: str, timeout: float,
                       pinned: HostKey | None) -> SftpError:
    if exc is None:
        return SftpError(f"{where}: SSH negotiation failed", "protocol")
    cause = exc.__context__ or exc.__cause__
    text = _first_line(exc)
    if isinstance(cause, TimeoutError | socket.timeout) or isinstance(exc, TimeoutError):
        return SftpError(f"{where} accepted the connection but sent no SSH greeting within "
                         f"{timeout:g} s", "timeout")
    if isinstance(cause, EOFError | ConnectionError) or isinstance(exc, EOFError | ConnectionError):
        return SftpError(f"{where} closed the connection during the SSH handshake", "protocol")
    if isinstance(exc, paramiko.IncompatiblePeer) and pinned is not None and "host key" in text:
        return SftpError(f"{where} offers no {pinned.type} host key, so it cannot prove the "
                         f"pinned key {pinned.fingerprint}; nothing was sent", "host_key")
    return SftpError(f"{where}: SSH negotiation failed: {text}", "protocol")


def _login(transport: paramiko.Transport, target: SftpTarget, key: paramiko.PKey | None) -> None:
    who = f"login as {target.username} on {target.where}"
    failure: str | None = None
    methods = ([("key", key)] if key is not None else []) + (
        [("password", target.password)] if target.password else [])
    for method, credential in methods:
        try:
            if method == "key":
                transport.auth_publickey(target.username, credential)
            else:
                transport.auth_password(target.username, credential.reveal(), fallback=False)
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(exc.allowed_types) or "none"
            failure = f"{who} failed: the server does not accept {method} login (it allows: {allowed})"
        except paramiko.AuthenticationException as exc:
            if "timeout" in str(exc).lower():
                raise SftpError(f"{who}: the server did not answer within {_auth_timeout(transport)}",
                                "timeout") from None
            failure = f"{who} failed: the server did not accept the credentials"
        except paramiko.SSHException as exc:
            if not transport.is_active():
                raise SftpError(f"{who} failed: the connection closed ({_scrub(_first_line(exc), target)})",
                                "protocol") from None
            raise _protocol(target, f"{who} failed", exc) from None
        else:
            if transport.is_authenticated():
                return
        if not transport.is_active():
            break
    raise SftpError(failure or f"{who} failed", "authentication")


def _auth_timeout(transport: paramiko.Transport) -> str:
    return f"{transport.auth_timeout:g} s"


def _check_folder(sftp: paramiko.SFTPClient, target: SftpTarget) -> None:
    try:
        attributes = sftp.stat(target.path)
    except OSError as exc:
        raise translate_error(exc, target, target.path) from None
    if attributes.st_mode is not None and not stat.S_ISDIR(attributes.st_mode):
        raise SftpError(f"path {target.path} on {target.where} is not a folder", "missing_path")


def _probe(sftp: paramiko.SFTPClient, target: SftpTarget) -> None:
    name = f"{PROBE_PREFIX}{secrets.token_hex(8)}"
    partial = posixpath.join(target.path, name + ".part")
    final = posixpath.join(target.path, name)
    written: str | None = None
    try:
        try:
            with sftp.open(partial, "wx") as handle:
                written = partial
                handle.write(b"Audience Workbench probe file; safe to delete.\n")
            sftp.rename(partial, final)
            written = final
            sftp.remove(final)
            written = None
        except OSError as exc:
            if written is None:
                raise SftpError(f"path {target.path} on {target.where} is not writable: cannot "
                                f"create a file ({_strerror(exc)})", "not_writable") from None
            action = "renamed" if written == partial else "removed"
            raise SftpError(f"path {target.path} on {target.where}: a probe file was written but "
                            f"cannot be {action} ({_strerror(exc)})", "not_writable") from None
    finally:
        if written is not None:
            try:
                sftp.remove(written)
            except OSError:
                pass


def translate_error(exc: BaseException, target: SftpTarget, path: str) -> SftpError:
    """An SftpError for an error raised while working on ``path`` through an SFTP client."""
    if isinstance(exc, SftpError):
        return exc
    number = getattr(exc, "errno", None)
    if isinstance(exc, FileNotFoundError) or number == errno.ENOENT:
        return SftpError(f"path {path} does not exist on {target.where}", "missing_path")
    if isinstance(exc, PermissionError) or number == errno.EACCES:
        return SftpError(f"path {path} on {target.where}: permission denied", "not_writable")
    if isinstance(exc, TimeoutError | socket.timeout):
        return SftpError(f"{target.where} stopped answering (SFTP request timed out)", "timeout")
    text = _first_line(exc)
    if isinstance(exc, EOFError | ConnectionError) or text in DROPPED:
        return SftpError(f"the connection to {target.where} closed during the transfer of "
                         f"{path}", "protocol")
    if text == "Failure":  # SSH_FX_FAILURE: what OpenSSH answers for ENOSPC, EDQUOT, EIO
        return SftpError(f"{target.where} could not write {path} (SFTP 'Failure': most often "
                         "a full disk or a quota on the server)", "not_writable")
    return _protocol(target, f"SFTP on {target.where} failed at {path}", exc)


# paramiko's words for a connection that went away under a request.
DROPPED = {"Server connection dropped:", "Server connection dropped", "Socket is closed",
           "EOFError"}


def _protocol(target: SftpTarget, context: str, exc: BaseException) -> SftpError:
    return SftpError(f"{context}: {_scrub(_first_line(exc), target)}", "protocol")


def _first_line(exc: BaseException | None) -> str:
    text = str(exc).strip() if exc is not None else ""
    if not text or (isinstance(exc, OSError) and exc.strerror):
        text = _strerror(exc) if isinstance(exc, OSError) else ""
    return (text.splitlines() or [type(exc).__name__])[0]


def _strerror(exc: BaseException | None) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror[0].lower() + exc.strerror[1:]
    if exc is None:
        return "unknown error"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _scrub(text: str, target: SftpTarget) -> str:
    """Belt and braces: no vendor message may carry a secret of the target."""
    for name in _SECRET_FIELDS:
        value = getattr(target, name)
        if value:
            for part in [value.reveal()] + value.reveal().splitlines():
                if len(part.strip()) >= 4:
                    text = text.replace(part.strip(), "********")
    return text

