"""The HTTP client behind remote mode."""

from loopline.client._api import ApiClient, error_from_response

__all__ = ["ApiClient", "error_from_response"]
