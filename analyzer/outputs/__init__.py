"""Everything written to or read from an output folder: ``writers`` (per-call JSON, tables,
SQLite, errors.csv, atomic writes), ``html`` (call pages and index, from ``templates/``) and
``reader`` (the one reader of a results folder)."""
