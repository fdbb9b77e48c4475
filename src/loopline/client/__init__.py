"""The HTTP client behind remote mode."""

from loopline.client._api import ApiClient, Sink, error_from_response

__all__ = ["ApiClient", "Sink", "error_from_response"]
