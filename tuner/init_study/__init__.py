"""``tuner init``: inspect a CSV table and write a ready, commented study file for it.

The file lists every column's decision (numeric, categorical or ignored, and why), the task
inferred from the target, a metric and class weights that suit the target's balance, and
search ranges scaled to the number of rows. It is validated before it is written, and an
existing file is never overwritten.
"""

from __future__ import annotations

from tuner.init_study.study_text import render_study
from tuner.init_study.write import InitResult, init_study

__all__ = ["InitResult", "init_study", "render_study"]
