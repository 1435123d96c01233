"""Audiences: definitions, the attribute catalog, the operator table, the SQL compiler, the
targeting summary and the service (lifecycle, estimate, members, explain)."""
