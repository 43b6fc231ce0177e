"""Reports: paper tables with proxy accuracy, conclusions with statistics, figures, HTML, attention.

Entry points: :func:`write_table_report` (one table from study records), :func:`load_records`
(an Optuna study's complete trials) and :mod:`skmobile.report.attention` (attention vs object scale).
"""

from .pipeline import REPORT_TABLES, write_table_report
from .study import DEFAULT_STORAGE, Record, add_result, load_records

__all__ = ["DEFAULT_STORAGE", "REPORT_TABLES", "Record", "add_result", "load_records", "write_table_report"]
