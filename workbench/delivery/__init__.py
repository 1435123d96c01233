"""Delivery adapters: destination kinds (SFTP, S3: ``kinds``), PGP, mail. Vendor errors become
ours here."""


def location(host: str, port: int, path: str) -> str:
    """Where a destination puts files, as people read it: ``host:port/path``; a path relative
    to the login folder shows as ``host:port/~/path``."""
    return f"{host}:{port}{path if path.startswith('/') else '/~/' + path}"


def location_of(destination: dict) -> str:
    """Where a stored destination (a row, or its JSON) puts files, whatever its kind:
    ``host:port/path`` for SFTP, ``s3://bucket/prefix/`` for S3."""
    if destination.get("type") == "s3":
        import json

        from .s3 import location as s3_location

        settings = destination.get("settings") or {}
        if isinstance(settings, str):
            settings = json.loads(settings)
        return s3_location(settings.get("bucket", ""), settings.get("prefix", ""),
                           settings.get("endpoint"))
    return location(destination["host"], destination["port"], destination["path"])
