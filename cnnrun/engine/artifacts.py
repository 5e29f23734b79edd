"""What `cnnrun export --verify` checks in an artifact before it runs it: that it holds only
what cnnrun's own exports hold. An export folder is a file like any other a user is handed,
and running a tampered SavedModel's `serve` runs whatever its graph says.

- `.keras`: cnnrun's own layer check (`cnnrun.interop.keras.mapping.check_layers`), before
  Keras loads anything: no Lambda, custom object or unknown class.
- SavedModel: no operation that reaches outside the graph (files, Python functions,
  summaries, other processes); the checkpoint operations only in the functions that save and
  restore the variables, where every SavedModel has them.
- ONNX: weights kept outside the file only in files inside the export folder.
- LiteRT: builtin operators only (no custom or Flex operator: cnnrun exports none, and the
  interpreter has no TF-ops delegate).

Example:
    ```python
    problem("savedmodel", Path("export/savedmodel"))  # None, or "runs WriteFile in ..."
    ```
"""

from __future__ import annotations

from pathlib import Path

from cnnrun.errors import UserError

# Operations no cnnrun export contains, each able to touch the world outside the graph.
OUTSIDE = frozenset(
    {
        "ReadFile",
        "WriteFile",
        "MatchingFiles",
        "PyFunc",
        "PyFuncStateless",
        "EagerPyFunc",
        "Print",
        "PrintV2",
        "ImmutableConst",
        "CreateSummaryFileWriter",
        "CreateSummaryDbWriter",
        "WriteSummary",
        "WriteScalarSummary",
        "WriteHistogramSummary",
        "WriteImageSummary",
        "WriteAudioSummary",
        "WriteRawProtoSummary",
        "WriteGraphSummary",
        "TFRecordDataset",
        "TFRecordDatasetV2",
        "TextLineDataset",
        "FixedLengthRecordDataset",
        "FixedLengthRecordDatasetV2",
        "LoadAndRemapMatrix",
        "Save",
        "SaveSlices",
        "Restore",
        "RestoreSlice",
        "RemoteCall",
        "_Send",
        "_Recv",
        "_HostSend",
        "_HostRecv",
    }
)
# Present in every SavedModel, in the functions that save and restore its variables only.
CHECKPOINT = frozenset({"SaveV2", "RestoreV2", "MergeV2Checkpoints"})
CHECKPOINT_FUNCTIONS = ("_traced_save_", "_traced_restore_")


def _savedmodel(path: Path) -> str | None:
    from tensorflow.core.protobuf import saved_model_pb2

    try:
        doc = saved_model_pb2.SavedModel.FromString((path / "saved_model.pb").read_bytes())
    except Exception as e:  # not a SavedModel at all
        return f"saved_model.pb cannot be read ({type(e).__name__})"
    for graph in doc.meta_graphs:
        for node in graph.graph_def.node:
            if node.op in OUTSIDE:
                return f"its graph runs {node.op} (node {node.name!r})"
        for fn in graph.graph_def.library.function:
            saver = any(tag in fn.signature.name for tag in CHECKPOINT_FUNCTIONS)
            for node in fn.node_def:
                if node.op in OUTSIDE or (node.op in CHECKPOINT and not saver):
                    return f"its function {fn.signature.name!r} runs {node.op}"
    return None


def _onnx(path: Path) -> str | None:
    import onnx

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:
        return f"it cannot be read as ONNX ({type(e).__name__})"
    folder = path.parent.resolve()
    tensors = list(model.graph.initializer)
    for node in model.graph.node:
        tensors += [a.t for a in node.attribute if a.HasField("t")]
    for tensor in tensors:
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        where = {e.key: e.value for e in tensor.external_data}.get("location", "")
        target = (folder / where).resolve()
        if Path(where).is_absolute() or not target.is_relative_to(folder):
            return f"tensor {tensor.name!r} keeps its data outside the folder ({where})"
    return None


def _litert(path: Path) -> str | None:
    from tensorflow.lite.python import schema_py_generated as schema

    try:
        model = schema.Model.GetRootAsModel(path.read_bytes(), 0)
        codes = [model.OperatorCodes(i) for i in range(model.OperatorCodesLength())]
    except Exception as e:
        return f"it cannot be read as a LiteRT model ({type(e).__name__})"
    for code in codes:
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        if builtin == schema.BuiltinOperator.CUSTOM:
            name = (code.CustomCode() or b"").decode(errors="replace")
            return f"it uses the custom operator {name!r}"
    return None


def _keras(path: Path) -> str | None:
    from cnnrun.interop.keras.mapping import check_layers
    from cnnrun.interop.keras.read import read_keras_model

    try:
        check_layers(read_keras_model(path))
    except UserError as e:
        return e.problems[0].message
    return None


CHECKS = {"keras": _keras, "savedmodel": _savedmodel, "onnx": _onnx, "litert": _litert}


def problem(fmt: str, path: Path) -> str | None:
    """Why the artifact must not be run (holding what no cnnrun export holds), or None."""
    return CHECKS[fmt](path)
