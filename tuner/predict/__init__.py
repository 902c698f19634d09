"""Apply an exported model to new rows: CSV, NPY or NPZ in; CSV, NPY or NPZ out.

The model is a ``.keras`` file (``--model``, e.g. a report's ``model.keras``) or the saved
model of a study's best trial (``--study``). Inputs are raw feature rows, in the units the study
trained on: normalisation is inside the model.

Output: CSV holds ``prediction`` (the class name, or the value for regression) and, for
classification, one ``probability_<class>`` column per class. ``.npy`` holds the class indices
(or predictions) alone; ``.npz`` holds ``label`` and ``probabilities`` (or ``prediction``).
A model trained on a CSV table reads raw rows by column name; :func:`predict_table` scores a
pandas DataFrame of such rows in memory.
"""

from __future__ import annotations

from tuner.predict.inputs import FORMATS, NPZ_KEYS, check_input, read_features
from tuner.predict.model_source import load_predictor
from tuner.predict.outputs import predictions_frame
from tuner.predict.scoring import PredictResult, predict_file, predict_table

__all__ = [
    "FORMATS",
    "NPZ_KEYS",
    "PredictResult",
    "check_input",
    "load_predictor",
    "predict_file",
    "predict_table",
    "predictions_frame",
    "read_features",
]
