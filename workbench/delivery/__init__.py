"""Delivery adapters: SFTP, PGP, mail. Vendor errors become ours here."""


def location(host: str, port: int, path: str) -> str:
    """Where a destination puts files, as people read it: ``host:port/path``; a path relative
    to the login folder shows as ``host:port/~/path``."""
    return f"{host}:{port}{path if path.startswith('/') else '/~/' + path}"
