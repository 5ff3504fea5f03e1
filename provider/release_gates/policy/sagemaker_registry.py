"""``deployment.registry`` of type ``sagemaker_model_package``: the package the release approves.

Kept in its own module so other registries can sit beside it as further members of the
``deployment.registry`` union, each discriminated by ``type``.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from release_gates.kinds.fields import PolicyModel, is_templated

#: arn:aws:sagemaker:<region>:<account>:model-package/<group>/<version> (or an unversioned name).
ARN_PATTERN = re.compile(r"^arn:aws[a-z-]*:sagemaker:[a-z0-9-]+:\d{12}:model-package/[A-Za-z0-9/_-]+$")


class SageMakerModelPackageRegistry(PolicyModel):
    """A SageMaker Model Registry package: approved by the release after every gate and sign-off (the
    evidence chain head in its approval description), rejected when the release is held."""

    type: Literal["sagemaker_model_package"] = Field(description="The SageMaker Model Registry.")
    model_package_arn: str = Field(
        min_length=1,
        description="The candidate's model package ARN (templated, e.g. from a trigger parameter).",
        examples=["{{ params.model_package_arn }}"],
    )
    aws_conn_id: str = Field(default="aws_default", description="Airflow AWS connection.")
    region: str | None = Field(default=None, description="AWS region (default: the connection's).")

    @field_validator("model_package_arn")
    @classmethod
    def _arn(cls, value: str) -> str:
        if not is_templated(value) and not ARN_PATTERN.fullmatch(value):
            raise ValueError(
                "must be a model package ARN (arn:aws:sagemaker:<region>:<account>:model-package/<group>/<n>)"
            )
        return value
