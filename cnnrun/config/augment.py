"""`train.augment`: MixUp and CutMix, which blend two images and their labels.

They are not layers: inside a model they would mix the images but not the labels. They run
in the training input pipeline after batching, on one-hot labels, so the training loss sees
the mixed labels while validation and test see the true ones. When both are given, each
batch gets one of the two, at random.

Example:
    >>> AugmentConfig.model_validate({"mixup": {"alpha": 0.4}}).mixes
    True
"""

from __future__ import annotations

from pydantic import Field

from cnnrun.config.fields import Section, number


class MixUpArgs(Section):
    """Keras's MixUp: a blend of two images, the labels blended alike (Zhang et al., 2018)."""

    alpha: number(gt=0, le=1) = Field(
        0.2, description="the blend's Beta(alpha, alpha); larger mixes more"
    )


class CutMixArgs(Section):
    """Keras's CutMix: a patch of another image pasted in, the labels mixed by its area
    (Yun et al., 2019)."""

    factor: number(gt=0, le=1) = Field(1.0, description="the patch size's Beta parameter")


class AugmentConfig(Section):
    mixup: MixUpArgs | None = None
    cutmix: CutMixArgs | None = None

    @property
    def mixes(self) -> bool:
        """Whether training labels are mixed (and the loss must take soft labels)."""
        return self.mixup is not None or self.cutmix is not None
