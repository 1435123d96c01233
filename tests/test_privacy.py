"""The home's customer data, rejects, results and run records are its owner's only."""

from __future__ import annotations

import os
import stat

from tests.audience_data import D, load


def test_data_and_runs_are_private_whatever_the_umask(tmp_path, write_csv):
    import workbench
    from workbench.home import init_home

    old = os.umask(0o022)
    try:
        root = tmp_path / "home"
        init_home(root, admin="ada")
        with workbench.open(root, user="ada") as wb:
            load(wb, write_csv)
            wb.customers.ingest("profiles", write_csv("bad.csv", ["customer_id", "birth_date"],
                                                      ["x", "never"]))
            wb.audiences.activate(wb.audiences.create({"name": "All", "rules": []}).id)
            wb.processing.run(D)
    finally:
        os.umask(old)
    checked = 0
    for folder in ("data", "runs", "tmp"):
        for path in [root / folder, *(root / folder).rglob("*")]:
            mode = stat.S_IMODE(path.stat().st_mode)
            assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
            checked += 1
    assert checked > 10
    assert stat.S_IMODE((root / "secret.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((root / "workbench.db").stat().st_mode) & 0o077 == 0
