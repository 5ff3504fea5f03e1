"""Loading a model to score with: its bytes are read once, their sha256 is checked against the pin,
and only then are they deserialised — by the loader registered for the model's format.

A loader turns the verified bytes into a :class:`ScoringModel`: a predict function (the decision),
an optional score function (probability of the positive class) and, when the model knows them, the
input columns it reads. Formats shipped: ``skops`` (scikit-learn objects; only trusted types are
loaded) and ``onnx`` (any exporter, e.g. skl2onnx; run with onnxruntime). Another format is one
function added to :data:`LOADERS`.
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from release_gates.exceptions import ModelLoadError

if TYPE_CHECKING:
    import pandas as pd

FrameFunction = Callable[["pd.DataFrame"], Any]


class ModelSource(Protocol):
    """What names a model: the policy's ``candidate:`` section or a check's ``model:`` reference."""

    @property
    def uri(self) -> str: ...

    @property
    def sha256(self) -> str | None: ...

    @property
    def format(self) -> str: ...

    @property
    def trusted_types(self) -> list[str]: ...


@dataclass(frozen=True)
class ScoringModel:
    """A loaded model, ready to score frames of input rows."""

    #: Frame → one decision per row (the prediction column).
    predict: FrameFunction
    #: Frame → the positive class's probability per row (the score column); None when the model has none.
    predict_score: FrameFunction | None
    #: The input columns the model reads, in order, when it declares them (else every column given).
    features: tuple[str, ...] | None
    #: ``{"uri", "format", "sha256", "pinned"}``: what the evidence records about the model.
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoadOptions:
    #: Input columns named by the policy; they win over what the model declares.
    features: tuple[str, ...] | None = None
    #: The positive class: its probability is the score.
    positive_label: int | str = 1


Loader = Callable[[bytes, "ModelSource", LoadOptions], ScoringModel]


def model_path(uri: str, base_dir: str | Path | None = None) -> Path:
    """The local file of a model URI (``file://…`` or a path, relative to ``base_dir``)."""
    if "://" in uri.removeprefix("file://"):
        raise ModelLoadError(f"model uri {uri!r}: only local files (a path or file://) can be loaded")
    path = Path(uri.removeprefix("file://"))
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    return path


def read_pinned(source: ModelSource, *, base_dir: str | Path | None = None) -> tuple[bytes, str]:
    """The model file's bytes and sha256; a digest other than the pinned one refuses the file."""
    path = model_path(source.uri, base_dir)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ModelLoadError(f"cannot read model file {path}: {exc.strerror}") from exc
    digest = hashlib.sha256(data).hexdigest()
    if source.sha256 and digest != source.sha256:
        raise ModelLoadError(
            f"model file {path} has sha256 {digest}, the release pins {source.sha256}; not loading it"
        )
    return data, digest


def load_model(
    source: ModelSource,
    *,
    base_dir: str | Path | None = None,
    features: Sequence[str] | None = None,
    positive_label: int | str = 1,
) -> ScoringModel:
    """Load ``source`` for scoring: sha256 checked before any deserialisation (see the module docstring)."""
    options = LoadOptions(tuple(features) if features else None, positive_label)
    if source.format == "callable":
        return _load_callable(source)
    loader = LOADERS.get(source.format)
    if loader is None:
        raise ModelLoadError(
            f"model format {source.format!r} has no loader (known: {', '.join(sorted(LOADERS))})"
        )
    data, digest = read_pinned(source, base_dir=base_dir)
    model = loader(data, source, options)
    info = {
        "uri": _display(source.uri),
        "format": source.format,
        "sha256": digest,
        "pinned": bool(source.sha256),
    }
    return ScoringModel(model.predict, model.predict_score, model.features, info)


def _display(uri: str) -> str:
    from release_gates.datasets import mask_password

    return mask_password(uri)


def _load_callable(source: ModelSource) -> ScoringModel:
    module_name, _, attr = source.uri.partition(":")
    if not attr:
        raise ModelLoadError(f"model uri {source.uri!r} must be 'module:callable'")
    try:
        predict = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ModelLoadError(f"cannot import model callable {source.uri!r}: {exc}") from exc
    return ScoringModel(predict, None, None, {"uri": source.uri, "format": "callable"})


def _load_skops(data: bytes, source: ModelSource, options: LoadOptions) -> ScoringModel:
    try:
        import skops.io as sio
    except ImportError as exc:  # pragma: no cover - the extra is part of [all]
        raise ModelLoadError(
            "loading skops models needs: pip install 'airflow-provider-release-gates[safety]'"
        ) from exc

    untrusted = [t for t in sio.get_untrusted_types(data=data) if t not in source.trusted_types]
    if untrusted:
        raise ModelLoadError(
            f"model file {source.uri} contains types that are not trusted: {', '.join(untrusted[:10])} "
            "(add them to trusted_types in the policy only if you trust their code)"
        )
    try:
        model = sio.loads(data, trusted=list(source.trusted_types) or None)
    except Exception as exc:
        raise ModelLoadError(f"model file {source.uri} is not a loadable skops file: {exc}") from exc
    declared = getattr(model, "feature_names_in_", None)
    features = options.features or (tuple(str(n) for n in declared) if declared is not None else None)

    def inputs(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[list(features)] if features is not None else frame

    def predict(frame: pd.DataFrame) -> Any:
        return model.predict(inputs(frame))

    predict_score: FrameFunction | None = None
    if hasattr(model, "predict_proba"):
        classes = [c.item() if hasattr(c, "item") else c for c in getattr(model, "classes_", [])]
        column = classes.index(options.positive_label) if options.positive_label in classes else -1

        def predict_score(frame: pd.DataFrame) -> Any:
            return model.predict_proba(inputs(frame))[:, column]

    return ScoringModel(predict, predict_score, features, {})


def _load_onnx(data: bytes, source: ModelSource, options: LoadOptions) -> ScoringModel:
    try:
        import onnxruntime as ort
    except ImportError as exc:  # pragma: no cover - the extra is part of [all]
        raise ModelLoadError(
            "scoring ONNX models needs onnxruntime: pip install 'airflow-provider-release-gates[onnx]'"
        ) from exc
    try:
        session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelLoadError(f"model file {source.uri} is not a loadable ONNX model: {exc}") from exc
    graph_inputs = session.get_inputs()
    # One input per column (named after it), or one 2-D tensor of every feature column in order.
    per_column = len(graph_inputs) > 1
    features = tuple(i.name for i in graph_inputs) if per_column else options.features
    outputs = session.get_outputs()

    def feed(frame: pd.DataFrame) -> dict[str, Any]:
        if per_column:
            return {i.name: frame[[i.name]].to_numpy().astype(_numpy_type(i.type)) for i in graph_inputs}
        columns = list(features) if features is not None else list(frame.columns)
        tensor = graph_inputs[0]
        return {tensor.name: frame[columns].to_numpy().astype(_numpy_type(tensor.type))}

    def run(frame: pd.DataFrame) -> list[Any]:
        result: list[Any] = session.run(None, feed(frame))
        return result

    def predict(frame: pd.DataFrame) -> Any:
        import numpy as np

        return np.asarray(run(frame)[0]).ravel()

    predict_score: FrameFunction | None = None
    if len(outputs) > 1:

        def predict_score(frame: pd.DataFrame) -> Any:
            return _positive_probability(run(frame)[1], options.positive_label)

    return ScoringModel(predict, predict_score, features, {})


def _numpy_type(onnx_type: str) -> str:
    """``tensor(float)`` → ``float32`` and so on (ONNX refuses a float64 array for a float input)."""
    kinds = {"float": "float32", "double": "float64", "int64": "int64", "int32": "int32", "string": "object"}
    return kinds.get(onnx_type.removeprefix("tensor(").removesuffix(")"), "float32")


def _positive_probability(output: Any, positive: int | str) -> Any:
    """The positive class's column of a probability output: a 2-D tensor or skl2onnx's list of maps."""
    import numpy as np

    if isinstance(output, list):
        return np.asarray(
            [row[positive] if positive in row else row[max(row)] for row in output], dtype="float64"
        )
    probabilities = np.asarray(output)
    if probabilities.ndim == 1:
        return probabilities
    index = positive if isinstance(positive, int) and 0 <= positive < probabilities.shape[1] else -1
    return probabilities[:, index]


#: Model format → loader. The loader receives bytes whose sha256 was already checked.
LOADERS: dict[str, Loader] = {"skops": _load_skops, "onnx": _load_onnx}
