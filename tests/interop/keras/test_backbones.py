"""`cnnrun.interop.keras.backbones`: a nested model is a backbone only by a constructor's name
and only when it holds stock Keras layers; plain Python, no Keras."""

from __future__ import annotations

from pathlib import Path

import pytest

from cnnrun.errors import UserError
from cnnrun.interop.keras.backbones import backbone_entry, constructor_of


@pytest.mark.parametrize(
    ("keras_name", "constructor"),
    [
        ("mobilenetv2_1.00_224", "MobileNetV2"),
        ("mobilenetv2_1.00_96", "MobileNetV2"),  # Keras names it by its input size
        ("mobilenet_1.00_128", "MobileNet"),
        ("mobilenetv2_0.50_224", None),  # another width: not the constructor's default
        ("MobileNetV3Small", "MobileNetV3Small"),
        ("efficientnetv2-b0", "EfficientNetV2B0"),
        ("resnet50", "ResNet50"),
        ("my_backbone", None),
    ],
)
def test_a_backbone_is_known_by_the_name_keras_gives_it(keras_name: str, constructor):
    assert constructor_of(keras_name) == constructor


def _nested(inner: list[dict]) -> dict:
    return {"class_name": "Functional", "config": {"name": "resnet50", "layers": inner}}


def test_a_backbone_holding_a_lambda_or_a_custom_layer_is_refused():
    stock = {"class_name": "Conv2D", "module": "keras.layers", "registered_name": None}
    notes: list[str] = []
    entry = backbone_entry(Path("m.keras"), 1, _nested([stock]), notes)
    assert entry["application"]["name"] == "ResNet50" and "preprocess_input" in notes[0]
    for bad in (
        {"class_name": "Lambda", "module": "keras.layers"},
        {"class_name": "Evil", "module": "mypackage.layers", "registered_name": "Custom>Evil"},
        {"class_name": "Functional", "module": "keras"},
        "not a layer",
    ):
        with pytest.raises(UserError) as e:
            backbone_entry(Path("m.keras"), 1, _nested([stock, bad]), [])
        assert "stock Keras layers" in str(e.value) and "m.keras" in str(e.value)
