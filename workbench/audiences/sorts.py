"""The orders of an audience list (pure): each key as the CLI, the service and the store take it
(``-`` first: descending), with the words the Audiences dashboard shows for it."""

SORTS = {
    "name": "Name A–Z",
    "-name": "Name Z–A",
    "created": "Created (oldest)",
    "-created": "Created (newest)",
    "last_processed": "Last processed (oldest)",
    "-last_processed": "Last processed (newest)",
    "size": "Size (smallest)",
    "-size": "Size (largest)",
    "percent": "% of base (lowest)",
    "-percent": "% of base (highest)",
}
# The order the Audiences dashboard offers them in: what changed lately first.
SHOWN = ("-last_processed", "last_processed", "-created", "created", "name", "-name", "-size",
         "size", "-percent", "percent")
