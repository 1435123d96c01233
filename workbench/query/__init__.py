"""The query layer: SQLGlot trees are its only currency.

``engine.py`` is what the rest calls (``Engine``, the registry ``ENGINES``, ``open_engine``);
``duckdb.py`` and ``spark.py`` run the trees; ``sql.py`` quotes names and values, in one place;
``csv.py`` writes values as every engine's files show them.
"""
