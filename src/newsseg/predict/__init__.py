"""Batch prediction, the work behind ``newsseg predict``: label dumps, labeled dumps and
tables in batches, in this process, in worker processes or on a Dask cluster, and write one
file per document, a stream or text.

- :mod:`.labeling`: a frame of documents labeled by a model (the one model call);
- :mod:`.tasks`: the inputs, their names in outputs, batches of them, a worker's work;
- :mod:`.executors`: batches labeled here or in ``jobs`` processes; :mod:`.dask_executor`
  on a Dask cluster;
- :mod:`.outputs`: the output formats, and where the predictions go;
- :mod:`.run`: :func:`predict`, which plans the tasks, runs them and accounts for them.
"""

from newsseg.predict.executors import Executor, LocalExecutor
from newsseg.predict.labeling import TRUE_LABEL, label_confidence, label_frame
from newsseg.predict.run import PredictionRun, check_predict_options, predict
from newsseg.predict.tasks import PREDICT_LABEL_HINT, PREDICT_SUFFIXES

__all__ = [
    "PREDICT_LABEL_HINT",
    "PREDICT_SUFFIXES",
    "TRUE_LABEL",
    "Executor",
    "LocalExecutor",
    "PredictionRun",
    "check_predict_options",
    "label_confidence",
    "label_frame",
    "predict",
]
