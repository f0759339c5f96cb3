"""The connector's configuration, read once from the environment and validated.

Every setting is an environment variable (contracts.md). Secrets are
`SecretStr`, so they print as `**********`. A missing or invalid setting is
reported in one line that names it and never repeats its value.
"""

from __future__ import annotations

import ipaddress
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cio_privacy.errors import UsageError

# Data Pipelines hosts (customerio-api.md); `/v1/...` paths are appended to them.
REGION_HOSTS = {"us": "https://cdp.customer.io", "eu": "https://cdp-eu.customer.io"}
LOOPBACK_NAMES = {"localhost"}


class Region(StrEnum):
    US = "us"
    EU = "eu"


class SettingsError(UsageError):
    """A setting is missing or invalid: one line, exit status 2."""


class Settings(BaseSettings):
    """Environment variables of the connector; see README "Configuration"."""

    model_config = SettingsConfigDict(
        env_prefix="", case_sensitive=False, extra="ignore", frozen=True
    )

    # Customer.io
    customerio_api_key: SecretStr | None = None
    customerio_region: Region | None = None
    customerio_base_url: str | None = None

    # pseudonymisation (R18)
    privacy_hmac_key: SecretStr | None = None

    # sending: Customer.io takes about 3000 requests per 3 s per source (unconfirmed);
    # half of that leaves room for the workspace's other sources
    cio_privacy_max_requests_per_second: Annotated[float, Field(gt=0, le=1000)] = 500.0
    cio_privacy_max_concurrent_requests: Annotated[int, Field(ge=1, le=64)] = 4
    cio_privacy_max_attempts: Annotated[int, Field(ge=1, le=20)] = 6
    cio_privacy_max_retry_wait_seconds: Annotated[float, Field(ge=0, le=3600)] = 60.0
    cio_privacy_request_timeout_seconds: Annotated[float, Field(gt=0, le=600)] = 30.0

    @field_validator("customerio_region", mode="before")
    @classmethod
    def _region_is_lower_case(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("customerio_base_url")
    @classmethod
    def _base_url_is_http(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL such as http://127.0.0.1:8765")
        if parts.query or parts.fragment:
            raise ValueError("must not have a query or fragment")
        return value.strip().rstrip("/")

    @field_validator("customerio_api_key", "privacy_hmac_key")
    @classmethod
    def _secret_is_not_blank(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        return value

    # what the commands need

    @property
    def points_at_sandbox(self) -> bool:
        """True when the base URL is a loopback address (the local sandbox)."""
        if self.customerio_base_url is None:
            return False
        host = urlsplit(self.customerio_base_url).hostname or ""
        if host in LOOPBACK_NAMES:
            return True
        try:
            return ipaddress.ip_address(host).is_loopback
        except ValueError:
            return False

    @property
    def api_root(self) -> str:
        """`https://cdp.customer.io/v1`, `https://cdp-eu.customer.io/v1` or `<base url>/v1`."""
        self.require_destination()
        if self.customerio_base_url is not None:
            return f"{self.customerio_base_url}/v1"
        assert self.customerio_region is not None
        return f"{REGION_HOSTS[self.customerio_region]}/v1"

    def require_destination(self) -> None:
        """The region is required, except for the sandbox (customerio-api.md:
        EU data sent to the US host is answered 200 and dropped)."""
        if self.customerio_region is None and not self.points_at_sandbox:
            raise SettingsError(
                "CUSTOMERIO_REGION is not set: set it to 'us' or 'eu' "
                "(only a CUSTOMERIO_BASE_URL on 127.0.0.1 makes it optional)"
            )

    def require_api_key(self) -> str:
        if self.customerio_api_key is None:
            raise SettingsError(
                "CUSTOMERIO_API_KEY is not set: use the Data Pipelines API key of the workspace"
            )
        return self.customerio_api_key.get_secret_value()

    def require_hmac_key(self) -> bytes:
        if self.privacy_hmac_key is None:
            raise SettingsError("PRIVACY_HMAC_KEY is not set: pseudonyms need a secret key (R18)")
        return self.privacy_hmac_key.get_secret_value().encode()


def _describe(error: dict[str, Any]) -> str:
    """`NAME is invalid: reason`, without the value pydantic would quote."""
    name = str(error["loc"][0]).upper() if error.get("loc") else "a setting"
    kind = error.get("type", "")
    if kind == "enum":
        reason = "expected 'us' or 'eu'"
    elif kind == "value_error":
        reason = str(error.get("ctx", {}).get("error", "invalid value"))
    elif kind in ("float_parsing", "int_parsing", "int_from_float"):
        reason = "expected a number"
    elif "greater_than" in kind or "less_than" in kind:
        limit = next(iter(error.get("ctx", {}).values()), "")
        reason = f"must be {kind.replace('_', ' ')} {limit}".strip()
    else:
        reason = kind.replace("_", " ") or "invalid value"
    return f"{name} is invalid: {reason}"


def load_settings(**overrides: Any) -> Settings:
    """Reads the environment; `overrides` (field names) win, for tests and the CLI."""
    try:
        return Settings(**overrides)
    except ValidationError as error:
        first = error.errors(include_input=False, include_url=False)[0]
        raise SettingsError(_describe(dict(first))) from None
