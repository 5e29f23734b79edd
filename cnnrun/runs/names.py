"""The names of the files cnnrun writes: a run folder's, an export folder's, and the markers
of sweep and search folders. Every module that reads or writes one of them names it here."""

CONFIG, HISTORY, SUMMARY = "config.yaml", "history.csv", "summary.json"
BEST, LAST, CURVES = "best.weights.h5", "last.weights.h5", "curves"
ERRORS = "errors.npz"  # the worst errors' images, for the gallery without TensorFlow
LOCK = ".lock"  # held by the process that trains the run
SWEEP = "sweep.json"  # marks a sweep folder, which holds runs rather than being one
SEARCH = "search.json"  # marks a search folder, which holds trials
LOCKS = ".locks"  # a sweep's or search's locks; hidden: `cnnrun runs` lists the runs
CACHE_DIR = ".cache"  # in a runs folder: decoded images (data.cache: disk), shared by its runs

# An export folder: one artifact per format, a JSON beside each, the reference batch.
FORMATS = ("keras", "savedmodel", "onnx", "litert")
ARTIFACTS = {
    "keras": "model.keras",
    "savedmodel": "savedmodel",
    "onnx": "model.onnx",
    "litert": "model.tflite",
}
EXPORT, REFERENCE = "export.json", "reference.npz"
