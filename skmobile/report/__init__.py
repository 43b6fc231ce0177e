"""Reports: paper tables with proxy accuracy, conclusions with statistics, figures, HTML, attention.

Entry points: :func:`write_complexity_report` (a table's measured complexity rows),
:func:`write_table_report` (the same with proxy accuracy from study records), :func:`load_records`
(an Optuna study's complete trials) and :mod:`skmobile.report.attention` (attention vs object scale).
"""

from .paper_table import AccuracySections
from .pipeline import REPORT_TABLES, write_complexity_report, write_table_report
from .study import DEFAULT_STORAGE, Record, load_records

__all__ = ["DEFAULT_STORAGE", "REPORT_TABLES", "AccuracySections", "Record", "load_records",
           "write_complexity_report", "write_table_report"]
