"""Nothing the connector logs or prints carries a key, an e-mail address or a phone number."""

from __future__ import annotations

import hashlib
import logging

import pytest
from cio_privacy.redaction import (
    Pseudonymizer,
    RedactingFilter,
    mask_payload,
    mask_text,
    register_secrets,
)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("write to jane.doe+news@example.co.uk now", "write to <email> now"),
        ("José <josé@exämple.de>", "José <<email>>"),
        ("call +1 415 555 0123 or +447700900123", "call <phone> or <phone>"),
        ("landline (415) 555-0123", "landline <phone>"),
        ("00 49 155 12345678", "<phone>"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <secret>"),
    ],
)
def test_personal_data_is_masked(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-01 00:00:00.000",
        "2026-11-01T06:30:00.000Z",
        "sent 1,000,000 actions in 12.5 s",
        "request 123456 of 475000 bytes",
        "HTTP 503: busy (after 6 attempts)",
        "action 0f3a9c2e4b7d11eeb1c80242ac120002",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert mask_text(text) == text


def test_registered_secrets_and_their_basic_auth_form_are_masked() -> None:
    register_secrets("abcd-secret-9876", None, "")
    import base64

    token = base64.b64encode(b"abcd-secret-9876:").decode()
    assert mask_text(f"key abcd-secret-9876 token {token}") == "key <secret> token <secret>"


def test_payloads_are_masked_by_trait_name_and_content() -> None:
    payload = {
        "email": "weird-but-personal",
        "phone": "+15550001111",
        "first_name": "Zoë",
        "note": "reach me at zoe@example.org",
        "cio_subscription_preferences.topics.topic_1": True,
        "nested": {"last_name": "Müller", "items": ["+33 6 39 12 34 56"]},
        "unsubscribed": False,
        "anonymized_at": None,
    }
    assert mask_payload(payload) == {
        "email": "<email>",
        "phone": "<phone>",
        "first_name": "<name>",
        "note": "reach me at <email>",
        "cio_subscription_preferences.topics.topic_1": True,
        "nested": {"last_name": "<name>", "items": ["<phone>"]},
        "unsubscribed": False,
        "anonymized_at": None,
    }


def test_the_logging_filter_masks_messages_arguments_and_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    logger = logging.getLogger("cio_privacy.test_redaction")
    caplog.handler.addFilter(RedactingFilter())
    try:
        raise ValueError("bad address ann@example.com")
    except ValueError:
        logger.exception("failed for %s", "bob@example.com")
    [record] = caplog.records
    assert "bob@" not in caplog.text
    assert "ann@" not in caplog.text
    assert record.getMessage() == "failed for <email>"


def test_pseudonyms_are_keyed_hmac_sha256() -> None:
    first = Pseudonymizer(b"k" * 32)
    second = Pseudonymizer(b"j" * 32)
    value = "jane.doe@example.com"
    assert first.pseudonym(value) == first.pseudonym(value)
    assert first.pseudonym(value) != second.pseudonym(value)
    assert first.pseudonym(value) != hashlib.sha256(value.encode()).hexdigest()
    assert len(first.pseudonym(value)) == 64
    assert "k" * 32 not in repr(first)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        Pseudonymizer(b"short")
