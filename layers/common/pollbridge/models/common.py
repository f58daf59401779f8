"""Field types shared by the models."""

from typing import Annotated

from pydantic import Field, StrictInt, StringConstraints

NonEmptyStr = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
EpochMs = Annotated[StrictInt, Field(ge=0, description="UTC epoch milliseconds")]
