"""Delivery adapters: SFTP, PGP, mail. Vendor errors become ours here."""
