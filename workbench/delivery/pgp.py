"""PGP encryptions: check public keys and encrypt files, with real GnuPG (python-gnupg).

Every operation runs in its own throwaway GnuPG home (a short path under /tmp: the agent's Unix
socket must fit in ~108 bytes), removed afterwards with its gpg-agent stopped. Nothing is kept
between operations, so nothing is trusted, cached or fetched: the keys given are all gpg sees.

- ``inspect_key(armored, today=...)``: exactly one ASCII-armored public key that can encrypt and
  is neither expired nor revoked on ``today`` -> ``KeyInfo``; anything else is ``InvalidInput``
  with a one-line reason. A private key block is refused before gpg ever reads it.
- ``check_keys(keys, today=...)``: the keys of one encryption: every key checked, all problems
  reported together (``key N: ...``), no duplicates; warnings for keys expiring within 30 days.
- ``encrypt_file(source, target, keys)``: binary OpenPGP output to all keys (trust model always),
  streamed, compressed unless the file is already; a gpg failure is ``PgpError`` with gpg's
  reason on one line.

Dates: ``today`` is always passed in (never read from the clock here). A key expiring on ``today``
is refused ("expires today"): it cannot be relied on for an export. Key material is never logged
or put into messages: only fingerprints and user ids are.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import gnupg

from workbench.errors import InvalidInput, InvalidKeys, PgpError, Problem

__all__ = ["KeyInfo", "inspect_key", "check_keys", "encrypt_file", "EXPIRY_WARNING_DAYS"]

EXPIRY_WARNING_DAYS = 30
MAX_KEY_CHARS = 1_000_000  # a public key with many signatures is a few hundred KB at most

_ARMOR_BEGIN = re.compile(r"^-----BEGIN PGP ([A-Z0-9 ,/]+)-----[ \t]*$", re.MULTILINE)
_PUBLIC_LABEL = "PUBLIC KEY BLOCK"
_PRIVATE_LABELS = ("PRIVATE KEY BLOCK", "SECRET KEY BLOCK")
# No network, ever: keys come only from the armored text given.
_GPG_OPTIONS = [
    "--no-auto-key-retrieve",
    "--auto-key-locate",
    "local",
    "--display-charset",
    "utf-8",  # user ids in gpg messages; python-gnupg decodes them as UTF-8
]
_ALGORITHMS = {"1": "rsa", "2": "rsa", "3": "rsa", "16": "elg", "17": "dsa", "20": "elg"}
_ECC_ALGORITHMS = {"18": "ecdh", "19": "ecdsa", "22": "eddsa"}


@dataclass(frozen=True)
class KeyInfo:
    """One checked public key, as shown to the user.

    ``expires``: the day after which the key can no longer encrypt: the primary key's expiry or,
    when earlier, the latest expiry of its usable encryption subkeys (None: never).
    ``algorithm``: the primary key's (``ed25519``, ``rsa3072``, ...); ``encryption_algorithm``:
    that of the encryption subkey gpg will use (the newest usable one)."""

    fingerprint: str
    user_ids: tuple[str, ...]
    created: date
    expires: date | None
    algorithm: str
    encryption_algorithm: str = ""
    can_encrypt: bool = True

    @property
    def key_id(self) -> str:
        """The long key id: the last 16 hex digits of the fingerprint."""
        return self.fingerprint[-16:]

    def days_left(self, today: date) -> int | None:
        return None if self.expires is None else (self.expires - today).days

    def to_dict(self) -> dict:
        return {
            "fingerprint": self.fingerprint,
            "user_ids": list(self.user_ids),
            "created": self.created.isoformat(),
            "expires": self.expires.isoformat() if self.expires else None,
            "algorithm": self.algorithm,
            "encryption_algorithm": self.encryption_algorithm,
        }


# --- public API ---------------------------------------------------------------------------------


def inspect_key(armored: str, *, today: date) -> KeyInfo:
    """Check one ASCII-armored public key; ``InvalidInput`` with a one-line reason if refused."""
    with _gnupg_home() as gpg:
        return _inspect(gpg, armored, today)


def check_keys(armored_keys: list[str], *, today: date) -> tuple[list[KeyInfo], list[str]]:
    """Check the keys of one encryption: (infos in order, warnings).

    Every key is checked; all problems are raised together as one ``InvalidKeys``
    (``key N: reason; key M: reason``). At least one key; the same key twice is refused.
    Warning for a key expiring within 30 days: ``key N (KEYID): expires on YYYY-MM-DD, in D days``.
    """
    if isinstance(armored_keys, str) or not isinstance(armored_keys, list | tuple):
        raise InvalidInput("keys must be a list of ASCII-armored public keys")
    if not armored_keys:
        raise InvalidInput("an encryption needs at least one public key")
    infos: list[KeyInfo] = []
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    with _gnupg_home() as gpg:
        for n, armored in enumerate(armored_keys, start=1):
            try:
                info = _inspect(gpg, armored, today)
            except InvalidInput as exc:
                problems.append(Problem(f"key {n}", exc.message))
                continue
            if info.fingerprint in seen:
                problems.append(Problem(f"key {n}", f"same key as key {seen[info.fingerprint]} "
                                                    f"({info.fingerprint})"))
                continue
            seen[info.fingerprint] = n
            infos.append(info)
    if problems:
        raise InvalidKeys.listing(problems)
    warnings = []
    for n, info in enumerate(infos, start=1):
        days = info.days_left(today)
        if days is not None and days <= EXPIRY_WARNING_DAYS:
            unit = "day" if days == 1 else "days"
            warnings.append(
                f"key {n} ({info.key_id}): expires on {info.expires.isoformat()}, in {days} {unit}"
            )
    return infos, warnings


# zlib level 1, not gpg's default 6: a CSV of 78 MB encrypts in 0.8 s instead of 2.2 s, and
# comes out 27 MB instead of 22 MB (measured here) — most of the gain for a third of the time.
COMPRESS_LEVEL = 1
# A file that is compressed already (gzip, zstd, zip, bzip2, xz) is encrypted as it is: gpg
# reads it from a pipe, where it cannot tell, and would deflate it again for nothing (a gzip
# CSV of 27 MB: 1.2 s instead of 0.14 s, and 15 KB larger).
COMPRESSED = (b"\x1f\x8b", b"\x28\xb5\x2f\xfd", b"PK\x03\x04", b"BZh", b"\xfd7zXZ\x00")


def encrypt_file(source: Path, target: Path, armored_keys: list[str]) -> list[str]:
    """Encrypt ``source`` to every key into ``target`` (binary OpenPGP, zlib level 1; not
    compressed again when ``source`` is: ``COMPRESSED``).

    Returns the primary fingerprints encrypted to, in the order of the keys. Keys are expected to
    have passed ``check_keys``; gpg decides usability on the real clock here (a key that expired
    since is refused by gpg). Any failure is ``PgpError`` with one line; no partial target is left.
    """
    source, target = Path(source), Path(target)
    if not armored_keys:
        raise PgpError("cannot encrypt: the encryption has no public key")
    if source.resolve() == target.resolve():
        raise PgpError(f"cannot encrypt {source.name} onto itself")
    with _gnupg_home() as gpg:
        fingerprints: list[str] = []
        for n, armored in enumerate(armored_keys, start=1):
            fpr = _import(gpg, armored, n)
            if fpr not in fingerprints:
                fingerprints.append(fpr)
        _refuse_unusable(gpg, fingerprints)
        try:
            fh = open(source, "rb")
        except OSError as exc:
            raise PgpError(f"cannot encrypt {source.name}: {exc.strerror or exc}") from exc
        try:
            compressed = fh.read(8).startswith(COMPRESSED)
            fh.seek(0)
        except OSError as exc:
            fh.close()
            raise PgpError(f"cannot encrypt {source.name}: {exc.strerror or exc}") from exc
        options = {"recipients": fingerprints, "armor": False, "always_trust": True,
                   "extra_args": ["--compress-algo", "none"] if compressed
                   else ["--compress-level", str(COMPRESS_LEVEL)]}
        try:
            with fh:
                result = gpg.encrypt_file(fh, output=str(target), **options)
        except BrokenPipeError:
            # gpg stopped before reading the input (python-gnupg then drops its result): ask
            # gpg again with an empty input to learn why.
            result = gpg.encrypt(b"", output=str(target), **options)
            _remove(target)
            if result.ok:
                raise PgpError(f"gpg could not encrypt {source.name}: gpg stopped reading") from None
        except OSError as exc:
            _remove(target)
            raise PgpError(f"cannot encrypt {source.name}: {exc.strerror or exc}") from exc
        if not result.ok:
            _remove(target)
            raise PgpError(f"gpg could not encrypt {source.name}: {_gpg_reason(result)}")
        return fingerprints


# --- GnuPG home ----------------------------------------------------------------------------------


@contextmanager
def _gnupg_home() -> Iterator[gnupg.GPG]:
    """A throwaway GnuPG home; its agent (if one started) is stopped and the folder removed."""
    base = "/tmp" if os.path.isdir("/tmp") else None
    home = tempfile.mkdtemp(prefix="wbg", dir=base)
    try:
        env = dict(os.environ, LC_ALL="C", LANGUAGE="C")
        env.pop("GPG_AGENT_INFO", None)
        try:
            gpg = gnupg.GPG(gnupghome=home, options=list(_GPG_OPTIONS), env=env)
        except (OSError, ValueError) as exc:
            raise PgpError(f"GnuPG cannot be run (is gpg installed?): {_one_line(str(exc))}") from exc
        gpg.encoding = "utf-8"
        yield gpg
    finally:
        try:
            subprocess.run(
                ["gpgconf", "--homedir", home, "--kill", "gpg-agent"],
                capture_output=True,
                timeout=10,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            pass
        shutil.rmtree(home, ignore_errors=True)


# --- checking one key ----------------------------------------------------------------------------


def _inspect(gpg: gnupg.GPG, armored: str, today: date) -> KeyInfo:
    text = _armored_public_text(armored, InvalidInput)
    path = Path(gpg.gnupghome) / "key.asc"
    path.write_text(text, encoding="utf-8")
    try:
        # `--dry-run --import-options import-show --import FILE`: lists without importing.
        scan = gpg.scan_keys(str(path))
    finally:
        path.unlink(missing_ok=True)
    keys = _parse_colons(scan.data)
    if any(k["type"] == "sec" for k in keys):
        raise InvalidInput(_PRIVATE_MESSAGE)
    if not keys:
        raise InvalidInput(
            "cannot be read as an OpenPGP public key (garbage or a damaged block"
            + (f": {reason}" if (reason := _scan_reason(scan)) else "")
            + ")"
        )
    if len(keys) > 1:
        raise InvalidInput(f"one block holds {len(keys)} keys; give one key per entry")
    return _key_info(keys[0], today)


_PRIVATE_MESSAGE = (
    "is a private key block: only public keys are accepted and a private key is never stored "
    "(export the public key with: gpg --armor --export FINGERPRINT)"
)


def _armored_public_text(armored: object, error: type[Exception]) -> str:
    """The text of one armored public key block, or ``error`` with a one-line reason."""
    if not isinstance(armored, str):
        raise error("not an ASCII-armored public key (expected text)")
    text = armored.strip()
    if not text:
        raise error("empty: expected an ASCII-armored public key")
    if len(text) > MAX_KEY_CHARS:
        raise error(f"too large for a public key ({len(text):,} characters)")
    labels = _ARMOR_BEGIN.findall(text)
    if any(label.strip() in _PRIVATE_LABELS for label in labels):
        raise error(_PRIVATE_MESSAGE)
    if not labels:
        raise error("not an ASCII-armored public key (no -----BEGIN PGP PUBLIC KEY BLOCK----- line)")
    other = [label.strip() for label in labels if label.strip() != _PUBLIC_LABEL]
    if other:
        raise error(f"is a PGP {other[0]}, not a public key block")
    return text + "\n"


def _key_info(key: dict, today: date) -> KeyInfo:
    uids = [u for validity, u in key["uids"] if validity != "r"] or [u for _, u in key["uids"]]
    fpr = key["fpr"]
    name = f"key {fpr}" + (f" ({uids[0]})" if uids else "")
    if key["validity"] == "r":
        raise InvalidInput(f"{name} is revoked")
    created = _date(key["created"])
    primary_expires = _date(key["expires"])
    if primary_expires is not None:
        _refuse_if_expired(primary_expires, today, name)
    candidates = [k for k in [key, *key["subkeys"]] if "e" in k["cap"]]
    if not candidates:
        raise InvalidInput(f"{name} is signing-only: it has no encryption subkey")
    usable = [
        k
        for k in candidates
        if k["validity"] != "r" and (k["expires"] is None or _date(k["expires"]) > today)
    ]
    if not usable:
        live = [k for k in candidates if k["validity"] != "r"]
        if not live:
            raise InvalidInput(f"{name}: its encryption subkey is revoked")
        last = max(_date(k["expires"]) for k in live)
        _refuse_if_expired(last, today, f"{name}: its encryption subkey")
    sub_expiries = [_date(k["expires"]) for k in usable]
    expires = None if any(e is None for e in sub_expiries) else max(sub_expiries)
    if primary_expires is not None:
        expires = primary_expires if expires is None else min(expires, primary_expires)
    newest = max(usable, key=lambda k: int(k["created"] or 0))
    return KeyInfo(
        fingerprint=fpr,
        user_ids=tuple(uids),
        created=created,
        expires=expires,
        algorithm=_algorithm(key),
        encryption_algorithm=_algorithm(newest),
        can_encrypt=True,
    )


def _refuse_if_expired(expires: date, today: date, what: str) -> None:
    if expires < today:
        raise InvalidInput(f"{what} expired on {expires.isoformat()}")
    if expires == today:
        raise InvalidInput(f"{what} expires today ({expires.isoformat()})")


def _parse_colons(data: bytes | str) -> list[dict]:
    """Primary keys from gpg's ``--with-colons --fixed-list-mode`` listing."""
    if isinstance(data, bytes):
        data = data.decode("utf-8", "replace")
    keys: list[dict] = []
    current: dict | None = None  # the key or subkey the next fpr record belongs to
    for line in data.splitlines():
        f = line.split(":")
        kind = f[0]
        if kind in ("pub", "sec", "sub", "ssb") and len(f) >= 12:
            record = {
                "type": kind,
                "validity": f[1],
                "length": f[2],
                "algo": f[3],
                "keyid": f[4],
                "created": f[5],
                "expires": f[6] or None,
                "cap": f[11],
                "curve": f[16] if len(f) > 16 else "",
                "fpr": "",
            }
            if kind in ("pub", "sec"):
                record.update(uids=[], subkeys=[])
                keys.append(record)
            elif keys:
                keys[-1]["subkeys"].append(record)
            current = record
        elif kind == "fpr" and current is not None and len(f) > 9 and not current["fpr"]:
            current["fpr"] = f[9]
        elif kind == "uid" and keys and len(f) > 9:
            keys[-1]["uids"].append((f[1], _unescape(f[9])))
    return keys


def _unescape(value: str) -> str:
    """gpg's colon listings escape ``:`` and control characters as ``\\xHH``."""
    raw = re.sub(rb"\\x([0-9a-fA-F]{2})", lambda m: bytes([int(m.group(1), 16)]), value.encode("utf-8"))
    return raw.decode("utf-8", "replace")


def _date(stamp: str | None) -> date | None:
    if not stamp:
        return None
    if stamp.isdigit():
        return datetime.fromtimestamp(int(stamp), UTC).date()
    return datetime.strptime(stamp[:8], "%Y%m%d").date()  # ISO form 20301231T120000


def _algorithm(key: dict) -> str:
    if key["algo"] in _ECC_ALGORITHMS:
        return key["curve"] or _ECC_ALGORITHMS[key["algo"]]
    name = _ALGORITHMS.get(key["algo"], f"algo{key['algo']}")
    return f"{name}{key['length']}" if key["length"] else name


def _scan_reason(scan) -> str:
    """A short reason from gpg's stderr for an unreadable block (no key material in it)."""
    for line in reversed((scan.stderr or "").splitlines()):
        if line.startswith("gpg: ") and "Total number processed" not in line:
            line = re.sub(r"^import from '.*' failed: ", "", line[5:])  # no temp paths
            return _one_line(line)
    return ""


# --- encrypting ----------------------------------------------------------------------------------


def _import(gpg: gnupg.GPG, armored: str, n: int) -> str:
    """Import key ``n`` into the throwaway keyring; its primary fingerprint."""
    try:
        text = _armored_public_text(armored, PgpError)
    except PgpError as exc:
        raise PgpError(f"key {n}: {exc.message}") from None
    path = Path(gpg.gnupghome) / f"key{n}.asc"
    path.write_text(text, encoding="utf-8")
    try:
        # gpg reads the file itself; python-gnupg's import_keys* would log the key data at debug.
        process = gpg._open_subprocess(["--import", str(path)])
        result = gpg.result_map["import"](gpg)
        gpg._collect_output(process, result, stdin=process.stdin)
    finally:
        path.unlink(missing_ok=True)
    if int(getattr(result, "sec_read", 0) or 0):
        raise PgpError(f"key {n}: {_PRIVATE_MESSAGE}")
    fingerprints = list(dict.fromkeys(f for f in result.fingerprints if f))
    if not fingerprints:
        raise PgpError(f"key {n}: gpg cannot import it ({_scan_reason(result) or 'no valid OpenPGP data'})")
    if len(fingerprints) > 1:
        raise PgpError(f"key {n}: one block holds {len(fingerprints)} keys; give one key per entry")
    return fingerprints[0]


def _refuse_unusable(gpg: gnupg.GPG, fingerprints: list[str]) -> None:
    """gpg's own verdict (on the real clock) before encrypting: revoked, expired, cannot encrypt.

    Clearer than gpg's "Unusable public key" at encryption time."""
    listed = {k.get("fingerprint"): k for k in gpg.list_keys(keys=fingerprints)}
    for n, fpr in enumerate(fingerprints, start=1):
        key = listed.get(fpr)
        if key is None:
            raise PgpError(f"key {n} ({fpr}): gpg did not keep it after import")
        validity, caps = key.get("trust", ""), key.get("cap", "")
        if validity == "r":
            raise PgpError(f"key {n} ({fpr}) is revoked; gpg refuses to encrypt to it")
        if validity == "e":
            raise PgpError(f"key {n} ({fpr}) has expired; gpg refuses to encrypt to it")
        if "E" not in caps:
            raise PgpError(
                f"key {n} ({fpr}) has no usable encryption subkey (revoked, expired or signing-only)"
            )


def _gpg_reason(result) -> str:
    """gpg's reason for a failed encryption, on one line: its status and the last gpg: line."""
    parts = []
    status = getattr(result, "status", None)
    if status:
        detail = getattr(result, "status_detail", None) or ""
        detail = detail.replace("no specific reason given:", "").strip()
        parts.append(f"{status} ({detail})" if detail else status)
    last = _scan_reason(result)
    if last and last not in parts:
        parts.append(last)
    if not parts:
        parts.append(f"gpg exited with code {getattr(result, 'returncode', '?')}")
    return _one_line("; ".join(parts))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
