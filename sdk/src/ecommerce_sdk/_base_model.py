"""The base class of the models the API returns (the generated ``types`` derive from it)."""

from __future__ import annotations

import pydantic


class ResponseModel(pydantic.BaseModel):
    """A model the API returned: unknown fields are ignored, so an older SDK keeps working against a newer
    server that added some; ``request_id`` is the ``X-Request-ID`` of the response it came from.
    """

    model_config = pydantic.ConfigDict(extra="ignore")

    _request_id: str | None = pydantic.PrivateAttr(default=None)

    @property
    def request_id(self) -> str | None:
        """The ``X-Request-ID`` of the response this came from; quote it when reporting a problem."""
        return self._request_id

    def __eq__(self, other: object) -> bool:
        # Two equal orders read by two requests are equal: the request id is not part of the data.
        if isinstance(other, ResponseModel) and type(other) is type(self):
            return self.__dict__ == other.__dict__ and self.__pydantic_extra__ == other.__pydantic_extra__
        return NotImplemented
