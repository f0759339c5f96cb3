"""Configuration: from the environment, validated at start-up, errors in one line, no values."""

from __future__ import annotations

import pytest
from cio_privacy.errors import UsageError
from cio_privacy.settings import Settings, SettingsError, load_settings

SECRET = "s3cr3t-key-value"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "CUSTOMERIO_API_KEY",
        "CUSTOMERIO_REGION",
        "CUSTOMERIO_BASE_URL",
        "PRIVACY_HMAC_KEY",
        "CIO_PRIVACY_MAX_REQUESTS_PER_SECOND",
        "CIO_PRIVACY_MAX_CONCURRENT_REQUESTS",
        "CIO_PRIVACY_MAX_ATTEMPTS",
        "CIO_PRIVACY_MAX_RETRY_WAIT_SECONDS",
        "CIO_PRIVACY_REQUEST_TIMEOUT_SECONDS",
    ):
        monkeypatch.delenv(name, raising=False)


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMERIO_API_KEY", SECRET)
    monkeypatch.setenv("CUSTOMERIO_REGION", " EU ")
    monkeypatch.setenv("CIO_PRIVACY_MAX_CONCURRENT_REQUESTS", "8")
    settings = load_settings()
    assert settings.require_api_key() == SECRET
    assert settings.api_root == "https://cdp-eu.customer.io/v1"
    assert settings.cio_privacy_max_concurrent_requests == 8
    assert SECRET not in repr(settings)
    assert SECRET not in str(settings.model_dump())


def test_the_region_is_required_for_customerio_itself() -> None:
    settings = load_settings(customerio_api_key=SECRET)
    with pytest.raises(SettingsError, match="CUSTOMERIO_REGION is not set"):
        settings.require_destination()
    proxy = load_settings(customerio_base_url="https://proxy.example.com")
    with pytest.raises(SettingsError, match="CUSTOMERIO_REGION"):
        _ = proxy.api_root


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8765", "http://localhost:9000/", "http://[::1]:1"]
)
def test_the_sandbox_url_makes_the_region_optional(url: str) -> None:
    settings = load_settings(customerio_base_url=url)
    assert settings.points_at_sandbox
    assert settings.api_root == url.rstrip("/") + "/v1"


def test_a_missing_key_is_one_line_naming_it() -> None:
    with pytest.raises(SettingsError) as raised:
        load_settings(customerio_region="us").require_api_key()
    assert str(raised.value).startswith("CUSTOMERIO_API_KEY is not set")
    assert isinstance(raised.value, UsageError)
    assert raised.value.exit_status == 2
    with pytest.raises(SettingsError, match="CUSTOMERIO_API_KEY"):
        load_settings(customerio_api_key="   ").require_api_key()


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "CUSTOMERIO_REGION",
            "mars-secret-ish",
            "CUSTOMERIO_REGION is invalid: expected 'us' or 'eu'",
        ),
        (
            "CUSTOMERIO_BASE_URL",
            "ftp://secret-host",
            "CUSTOMERIO_BASE_URL is invalid: must be an http(s) URL",
        ),
        (
            "CIO_PRIVACY_MAX_CONCURRENT_REQUESTS",
            "lots",
            "CIO_PRIVACY_MAX_CONCURRENT_REQUESTS is invalid: expected a number",
        ),
        (
            "CIO_PRIVACY_MAX_CONCURRENT_REQUESTS",
            "0",
            "CIO_PRIVACY_MAX_CONCURRENT_REQUESTS is invalid",
        ),
        (
            "CIO_PRIVACY_MAX_REQUESTS_PER_SECOND",
            "-1",
            "CIO_PRIVACY_MAX_REQUESTS_PER_SECOND is invalid",
        ),
    ],
)
def test_an_invalid_setting_is_named_without_its_value(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as raised:
        load_settings()
    text = str(raised.value)
    assert text.startswith(message)
    assert value not in text
    assert "\n" not in text


def test_the_hmac_key_is_required_for_pseudonyms() -> None:
    with pytest.raises(SettingsError, match="PRIVACY_HMAC_KEY is not set"):
        Settings().require_hmac_key()
    assert load_settings(privacy_hmac_key="k" * 32).require_hmac_key() == b"k" * 32
