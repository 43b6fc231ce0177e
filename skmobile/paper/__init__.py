"""The paper's Tables 2-7 as transcribed from the CVPR 2019 PDF (``sknet_tables.json``)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources


@lru_cache(maxsize=1)
def paper_tables() -> dict:
    return json.loads(resources.files(__package__).joinpath("sknet_tables.json").read_text())


def paper_rows(table: int) -> list[dict]:
    return [dict(r) for r in paper_tables()[f"table{table}"]["rows"]]
