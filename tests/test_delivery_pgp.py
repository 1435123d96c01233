"""PGP encryptions against real GnuPG: key checks and file encryption (workbench.delivery.pgp).

One session fixture makes the keys with the gpg CLI in a throwaway GnuPG home (unprotected keys,
batch mode): valid Ed25519/Cv25519 and RSA keys, one expiring in 10 days, one expired (made with
--faked-system-time in 2020), one whose encryption subkey expired, a revoked one (its revocation
certificate from openpgp-revocs.d imported), a signing-only one.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import NOW
from workbench.delivery import pgp
from workbench.delivery.pgp import KeyInfo, check_keys, encrypt_file, inspect_key
from workbench.errors import InvalidInput, PgpError

pytestmark = pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed")

PAST = "20200101T000000"
SOON_EXPIRES = NOW.date() + timedelta(days=10)  # --faked-system-time for keys made (and expired) in the past
PAST_LATER = "20200101T000100"


@dataclass
class Key:
    fingerprint: str
    user_id: str
    created: date
    expires: date | None
    armored: str
    encryption_keyid: str = ""


@dataclass
class Keys:
    home: str
    alice: Key  # ed25519 + cv25519, no expiry
    bob: Key  # rsa2048 + rsa2048 encryption subkey, uid with a colon and non-ASCII letters
    soon: Key  # made in 2020, expires 10 days after the pinned "now" (SOON_EXPIRES)
    old: Key  # made 2020-01-01, expired 2020-12-31
    subexp: Key  # primary valid, encryption subkey expired 2020-12-31
    rita: Key  # revoked
    sam: Key  # signing-only
    alice_secret: str  # armored private key block
    two: str  # one block with alice and sam


def _gpg(home: str, *args: str, faked: str | None = None, input: str | None = None) -> str:
    cmd = ["gpg", "--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""]
    if faked:
        cmd += ["--faked-system-time", faked]
    done = subprocess.run(cmd + list(args), input=input, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _params(name: str, email: str, *, expire: str = "0", encrypt: bool = True, rsa: bool = False) -> str:
    if rsa:
        primary = "Key-Type: rsa\nKey-Length: 2048\nKey-Usage: cert\n"
        sub = "Subkey-Type: rsa\nSubkey-Length: 2048\nSubkey-Usage: encrypt\n"
    else:
        primary = "Key-Type: eddsa\nKey-Curve: ed25519\nKey-Usage: " + ("cert" if encrypt else "sign") + "\n"
        sub = "Subkey-Type: ecdh\nSubkey-Curve: cv25519\nSubkey-Usage: encrypt\n"
    return (
        primary
        + (sub if encrypt else "")
        + f"Name-Real: {name}\nName-Email: {email}\nExpire-Date: {expire}\n%commit\n"
    )


def _listing(home: str) -> dict[str, Key]:
    """What gpg reports, keyed by e-mail: fingerprint, user id, dates, encryption subkey id."""
    keys: dict[str, Key] = {}
    current: Key | None = None
    pending = None
    for line in _gpg(home, "--with-colons", "--fixed-list-mode", "--list-keys").splitlines():
        f = line.split(":")
        stamp = lambda s: datetime.fromtimestamp(int(s), UTC).date() if s else None  # noqa: E731
        if f[0] == "pub":
            pending = {"created": stamp(f[5]), "expires": stamp(f[6])}
            current = None
        elif f[0] == "fpr" and pending is not None:
            current = Key(f[9], "", pending["created"], pending["expires"], "")
            pending = None
        elif f[0] == "uid" and current is not None and not current.user_id:
            current.user_id = re.sub(r"\\x([0-9a-f]{2})", lambda m: chr(int(m.group(1), 16)), f[9])
            keys[current.user_id.split("<")[1].rstrip(">")] = current
        elif f[0] == "sub" and current is not None and "e" in f[11]:
            current.encryption_keyid = f[4]
    return keys


@pytest.fixture(scope="session")
def keys() -> Keys:
    home = tempfile.mkdtemp(prefix="wbt", dir="/tmp")
    try:
        params = "%no-protection\n" + "".join(
            [
                _params("Alice Valid", "alice@example.com"),
                _params("Bob Zoë: Ops", "bob@example.com", rsa=True),
                _params("Rita Revoked", "rita@example.com"),
                _params("Sam Signing", "sam@example.com", encrypt=False),
            ]
        )
        _gpg(home, "--gen-key", input=params)
        # Expiring 10 days after the workbench's pinned "now" (tests/conftest.py), whatever day
        # the suite runs; made in the past (in 2020), so that gpg never sees a key from the
        # future, whatever the machine's clock says (a year behind, under faketime).
        _gpg(home, "--gen-key", faked=PAST, input="%no-protection\n" + _params(
            "Soon Expiring", "soon@example.com", expire=str(SOON_EXPIRES)))
        past = "%no-protection\n" + _params("Old Expired", "old@example.com", expire="1y")
        past += "%no-protection\n" + _params("Sub Expired", "subexp@example.com", encrypt=False)
        _gpg(home, "--gen-key", faked=PAST, input=past)
        listed = _listing(home)
        # subexp: a primary key that never expires, an encryption subkey that expired in 2020
        subexp = listed["subexp@example.com"].fingerprint
        # A minute after the primary key's faked creation: on a busy machine its generation
        # can take a few seconds, and gpg refuses a subkey older than its primary key.
        _gpg(home, "--quick-add-key", subexp, "cv25519", "encr", "1y", faked=PAST_LATER)
        # rita: import the revocation certificate gpg wrote when the key was made
        rita = listed["rita@example.com"].fingerprint
        revocation = Path(home, "openpgp-revocs.d", f"{rita}.rev").read_text()
        _gpg(home, "--import", input=revocation.replace(":-----BEGIN PGP", "-----BEGIN PGP"))
        listed = _listing(home)
        for key in listed.values():
            key.armored = _gpg(home, "--armor", "--export", key.fingerprint)
        alice = listed["alice@example.com"]
        yield Keys(
            home=home,
            alice=alice,
            bob=listed["bob@example.com"],
            soon=listed["soon@example.com"],
            old=listed["old@example.com"],
            subexp=listed["subexp@example.com"],
            rita=listed["rita@example.com"],
            sam=listed["sam@example.com"],
            alice_secret=_gpg(home, "--armor", "--export-secret-keys", alice.fingerprint),
            two=_gpg(home, "--armor", "--export", alice.fingerprint, listed["sam@example.com"].fingerprint),
        )
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def _refused(armored: str, today: date) -> str:
    with pytest.raises(InvalidInput) as caught:
        inspect_key(armored, today=today)
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- one key -------------------------------------------------------------------------------------


def test_a_valid_key_shows_what_gpg_reports(keys):
    alice = keys.alice
    info = inspect_key(alice.armored, today=alice.created)
    assert info == KeyInfo(
        fingerprint=alice.fingerprint,
        user_ids=("Alice Valid <alice@example.com>",),
        created=alice.created,
        expires=None,
        algorithm="ed25519",
        encryption_algorithm="cv25519",
    )
    assert re.fullmatch(r"[0-9A-F]{40}", info.fingerprint) and info.key_id == alice.fingerprint[-16:]
    # never expires: valid on any later day too; the clock is the argument, not the machine's
    assert inspect_key(alice.armored, today=date(2100, 1, 1)).fingerprint == alice.fingerprint
    assert info.to_dict()["expires"] is None and info.to_dict()["created"] == alice.created.isoformat()


def test_rsa_key_and_a_user_id_with_a_colon_and_non_ascii_letters(keys):
    bob = keys.bob
    info = inspect_key(bob.armored, today=bob.created)
    assert info.fingerprint == bob.fingerprint
    assert info.user_ids == ("Bob Zoë: Ops <bob@example.com>",) == (bob.user_id,)
    assert (info.algorithm, info.encryption_algorithm) == ("rsa2048", "rsa2048")


def test_expiry_is_judged_on_the_day_passed_in(keys):
    soon = keys.soon
    expires, today = SOON_EXPIRES, SOON_EXPIRES - timedelta(days=10)
    assert soon.expires == expires  # as gpg reports it
    info = inspect_key(soon.armored, today=today)
    assert info.expires == expires and info.days_left(today) == 10
    assert inspect_key(soon.armored, today=expires - timedelta(days=1)).expires == expires
    assert _refused(soon.armored, expires) == (
        f"key {soon.fingerprint} (Soon Expiring <soon@example.com>) expires today ({expires})"
    )
    assert _refused(soon.armored, expires + timedelta(days=1)).endswith(f"expired on {expires}")


def test_an_expired_key_is_refused_with_its_date(keys):
    old = keys.old
    assert old.created == date(2020, 1, 1) and old.expires == date(2020, 12, 31)
    message = _refused(old.armored, date(2026, 1, 1))
    assert message == f"key {old.fingerprint} (Old Expired <old@example.com>) expired on 2020-12-31"
    # on a day before it expired it was fine (gpg's own clock plays no part)
    assert inspect_key(old.armored, today=date(2020, 6, 1)).expires == date(2020, 12, 31)


def test_a_key_whose_encryption_subkey_expired_is_refused(keys):
    subexp = keys.subexp
    assert subexp.expires is None  # the primary key never expires
    message = _refused(subexp.armored, date(2026, 1, 1))
    assert message.endswith("its encryption subkey expired on 2020-12-31")
    assert inspect_key(subexp.armored, today=date(2020, 6, 1)).expires == date(2020, 12, 31)


def test_a_revoked_key_is_refused(keys):
    message = _refused(keys.rita.armored, keys.rita.created)
    assert message == f"key {keys.rita.fingerprint} (Rita Revoked <rita@example.com>) is revoked"


def test_a_signing_only_key_is_refused(keys):
    message = _refused(keys.sam.armored, keys.sam.created)
    assert message == (
        f"key {keys.sam.fingerprint} (Sam Signing <sam@example.com>) is signing-only: "
        "it has no encryption subkey"
    )


def test_garbage_is_refused(keys):
    today = keys.alice.created
    assert "not an ASCII-armored public key" in _refused("hello, this is not a key", today)
    assert _refused("  \n", today) == "empty: expected an ASCII-armored public key"
    assert "not an ASCII-armored public key" in _refused(None, today)  # type: ignore[arg-type]
    body = "\n".join(
        ["-----BEGIN PGP PUBLIC KEY BLOCK-----", "", "bm90IGEga2V5IGF0IGFsbA==", "=abcd"]
        + ["-----END PGP PUBLIC KEY BLOCK-----"]
    )
    message = _refused(body, today)
    assert message.startswith("cannot be read as an OpenPGP public key (garbage")
    assert "/tmp" not in message  # no throwaway path in the message
    # a key cut in half
    lines = keys.alice.armored.splitlines()
    cut = "\n".join(lines[: len(lines) // 2] + lines[-1:])
    assert _refused(cut, today).startswith("cannot be read as an OpenPGP public key")
    encrypted = "-----BEGIN PGP MESSAGE-----\n\nhQEMA\n-----END PGP MESSAGE-----"
    assert _refused(encrypted, today) == "is a PGP MESSAGE, not a public key block"


def test_a_private_key_block_is_refused(keys):
    today = keys.alice.created
    message = _refused(keys.alice_secret, today)
    assert message.startswith("is a private key block: only public keys are accepted")
    assert "never stored" in message
    # relabelled as public: gpg still sees a secret key, and it is still refused
    relabelled = keys.alice_secret.replace("PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK")
    assert _refused(relabelled, today).startswith("is a private key block")


def test_two_keys_in_one_block_are_refused(keys):
    message = _refused(keys.two, keys.alice.created)
    assert message == "one block holds 2 keys; give one key per entry"


# --- the keys of one encryption ------------------------------------------------------------------


def test_check_keys_returns_infos_and_warns_about_a_key_expiring_soon(keys):
    today = SOON_EXPIRES - timedelta(days=10)
    infos, warnings = check_keys([keys.alice.armored, keys.soon.armored, keys.bob.armored], today=today)
    assert [i.fingerprint for i in infos] == [
        keys.alice.fingerprint,
        keys.soon.fingerprint,
        keys.bob.fingerprint,
    ]
    expires = today + timedelta(days=10)
    assert warnings == [f"key 2 ({keys.soon.fingerprint[-16:]}): expires on {expires}, in 10 days"]
    _, warnings = check_keys([keys.soon.armored], today=expires - timedelta(days=1))
    assert warnings == [f"key 1 ({keys.soon.fingerprint[-16:]}): expires on {expires}, in 1 day"]
    assert check_keys([keys.alice.armored], today=today)[1] == []


def test_check_keys_collects_every_problem(keys):
    today = keys.alice.created
    armored = [keys.alice.armored, "garbage", keys.sam.armored, keys.alice.armored, keys.rita.armored]
    with pytest.raises(InvalidInput) as caught:
        check_keys(armored, today=today)
    problems = str(caught.value).split("; ")
    assert [p.split(":")[0] for p in problems] == ["key 2", "key 3", "key 4", "key 5"]
    no_armor = "not an ASCII-armored public key (no -----BEGIN PGP PUBLIC KEY BLOCK----- line)"
    assert problems[0] == f"key 2: {no_armor}"
    assert "signing-only" in problems[1]
    assert problems[2] == f"key 4: same key as key 1 ({keys.alice.fingerprint})"
    assert problems[3].endswith("is revoked")


def test_check_keys_needs_at_least_one_key(keys):
    with pytest.raises(InvalidInput, match="at least one public key"):
        check_keys([], today=keys.alice.created)
    with pytest.raises(InvalidInput, match="must be a list"):
        check_keys(keys.alice.armored, today=keys.alice.created)  # type: ignore[arg-type]


# --- encrypting ----------------------------------------------------------------------------------


def _decrypt_with_only(keys: Keys, key: Key, encrypted: Path, out: Path) -> bytes:
    """Decrypt in a fresh home holding only ``key``'s secret, taken from the fixture's home."""
    secret = _gpg(keys.home, "--armor", "--export-secret-keys", key.fingerprint)
    home = tempfile.mkdtemp(prefix="wbt", dir="/tmp")
    try:
        _gpg(home, "--import", input=secret)
        _gpg(home, "--output", str(out), "--decrypt", str(encrypted))
        return out.read_bytes()
    finally:
        subprocess.run(["gpgconf", "--homedir", home, "--kill", "gpg-agent"], capture_output=True)
        shutil.rmtree(home, ignore_errors=True)


def test_a_file_encrypted_to_two_keys_decrypts_with_each(keys, tmp_path):
    source = tmp_path / "gold.csv"
    content = b"customer_id,first_name\r\n" + b"".join(b"C%05d,Zo\xc3\xab\r\n" % i for i in range(2000))
    source.write_bytes(content)
    target = tmp_path / "gold.csv.pgp"
    used = encrypt_file(source, target, [keys.alice.armored, keys.bob.armored])
    assert used == [keys.alice.fingerprint, keys.bob.fingerprint]
    data = target.read_bytes()
    assert not data.startswith(b"-----BEGIN") and b"customer_id" not in data  # binary, encrypted
    packets = subprocess.run(
        ["gpg", "--homedir", keys.home, "--batch", "--list-packets", "--list-only", str(target)],
        capture_output=True,
        text=True,
    )
    recipients = set(re.findall(r"keyid ([0-9A-F]{16})", packets.stdout))
    assert recipients == {keys.alice.encryption_keyid, keys.bob.encryption_keyid}
    for key in (keys.alice, keys.bob):
        assert _decrypt_with_only(keys, key, target, tmp_path / f"out-{key.user_id[:3]}") == content


def test_a_compressed_file_is_not_compressed_again(keys, tmp_path):
    """gpg reads from a pipe and would deflate a gzip file again; a plain CSV is compressed."""
    import gzip

    rows = b"".join(b"C%06d,Zo\xc3\xab,anna@example.com\n" % i for i in range(20000))
    for name, content, packet in (("rows.csv.gz", gzip.compress(rows), False),
                                  ("rows.csv", rows, True)):
        source, target = tmp_path / name, tmp_path / f"{name}.pgp"
        source.write_bytes(content)
        encrypt_file(source, target, [keys.alice.armored])
        listed = subprocess.run(["gpg", "--homedir", keys.home, "--batch", "--list-packets",
                                 str(target)], capture_output=True, text=True)
        assert ("compressed packet" in listed.stdout) is packet, name
        assert _decrypt_with_only(keys, keys.alice, target, tmp_path / f"{name}.out") == content


def test_encrypting_to_an_unusable_key_is_a_pgp_error_and_leaves_no_file(keys, tmp_path):
    source = tmp_path / "a.csv"
    source.write_text("x\n")
    target = tmp_path / "a.csv.pgp"
    cases = [
        (keys.old, "has expired; gpg refuses to encrypt to it"),
        (keys.rita, "is revoked; gpg refuses to encrypt to it"),
        (keys.sam, "has no usable encryption subkey (revoked, expired or signing-only)"),
        (keys.subexp, "has no usable encryption subkey (revoked, expired or signing-only)"),
    ]
    for key, reason in cases:
        with pytest.raises(PgpError) as caught:
            encrypt_file(source, target, [keys.alice.armored, key.armored])
        assert str(caught.value) == f"key 2 ({key.fingerprint}) {reason}"
        assert not target.exists()
    with pytest.raises(PgpError, match="^key 1: is a private key block"):
        encrypt_file(source, target, [keys.alice_secret])
    with pytest.raises(PgpError, match="^key 1: not an ASCII-armored public key"):
        encrypt_file(source, target, ["garbage"])
    with pytest.raises(PgpError, match="no public key"):
        encrypt_file(source, target, [])


def test_a_gpg_failure_is_one_line_with_gpgs_reason(keys, tmp_path):
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(1 << 20))
    with pytest.raises(PgpError) as caught:
        encrypt_file(source, tmp_path / "missing-folder" / "big.bin.pgp", [keys.alice.armored])
    message = str(caught.value)
    assert message.startswith("gpg could not encrypt big.bin: ") and "\n" not in message
    assert "No such file or directory" in message
    with pytest.raises(PgpError, match="cannot encrypt nothing.csv: No such file or directory"):
        encrypt_file(tmp_path / "nothing.csv", tmp_path / "x.pgp", [keys.alice.armored])


# --- housekeeping --------------------------------------------------------------------------------


def _our_homes() -> set[str]:
    return {p for p in os.listdir("/tmp") if p.startswith("wbg")}


def _agents_without_home() -> list[str]:
    """gpg-agent processes serving a throwaway home that is gone (a leaked agent)."""
    leaked = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path("/proc", pid, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode(errors="replace") for a in cmdline]
        if args and args[0].endswith("gpg-agent") and "--homedir" in args:
            home = args[args.index("--homedir") + 1]
            if os.path.basename(home).startswith("wbg") and not os.path.isdir(home):
                leaked.append(f"{pid} {home}")
    return leaked


def test_throwaway_homes_are_removed_and_their_agents_stopped(keys, tmp_path):
    before = _our_homes()
    # a private key makes gpg start an agent even in a dry run: the relabelled block does that
    relabelled = keys.alice_secret.replace("PRIVATE KEY BLOCK", "PUBLIC KEY BLOCK")
    with pytest.raises(InvalidInput):
        inspect_key(relabelled, today=keys.alice.created)
    check_keys([keys.alice.armored], today=keys.alice.created)
    source = tmp_path / "s.txt"
    source.write_text("s\n")
    encrypt_file(source, tmp_path / "s.txt.pgp", [keys.alice.armored])
    assert _our_homes() - before == set()
    deadline = time.monotonic() + 3
    while _agents_without_home() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _agents_without_home() == []


def test_key_material_is_never_logged(keys, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    source = tmp_path / "s.txt"
    source.write_text("s\n")
    check_keys([keys.alice.armored, keys.bob.armored], today=keys.alice.created)
    encrypt_file(source, tmp_path / "s.txt.pgp", [keys.alice.armored, keys.bob.armored])
    with pytest.raises(InvalidInput):
        inspect_key(keys.alice_secret, today=keys.alice.created)
    logged = caplog.text
    for armored in (keys.alice.armored, keys.bob.armored, keys.alice_secret):
        body = [line for line in armored.splitlines() if len(line) > 40]
        assert body and not any(line[:40] in logged for line in body)


def test_the_module_reads_no_clock():
    source = Path(pgp.__file__).read_text()
    assert not re.search(r"\b(date\.today|datetime\.now|datetime\.utcnow|time\.time)\(", source)
