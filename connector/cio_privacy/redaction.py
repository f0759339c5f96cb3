"""Keeping personal data and secrets out of what the connector logs or prints.

- `mask_text` replaces e-mail addresses, phone numbers and the secrets the
  process knows (the API key, the HMAC key, and the Basic-auth token built
  from the key) in any text: log lines, error messages, dry-run output.
- `mask_payload` does the same inside a JSON-like value and blanks the
  values of traits that hold contact data, whatever they look like.
- `Pseudonymizer` turns an identifier into a keyed HMAC-SHA256 pseudonym
  (R18): without the key the pseudonym cannot be recomputed from a guess,
  which a bare hash of an e-mail address can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

EMAIL_MASK = "<email>"
PHONE_MASK = "<phone>"
SECRET_MASK = "<secret>"  # noqa: S105 - what a secret is replaced with
NAME_MASK = "<name>"
# Traits whose values are personal data whatever they look like (R18's PII traits and kin).
PERSONAL_TRAITS = {
    "email": EMAIL_MASK,
    "phone": PHONE_MASK,
    "phone_number": PHONE_MASK,
    "mobile": PHONE_MASK,
    "first_name": NAME_MASK,
    "last_name": NAME_MASK,
    "name": NAME_MASK,
}

_EMAIL = re.compile(r"[\w.!#$%&'*+/=?^`{|}~-]+@[\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,}")
# A run of digits with the separators people write in phone numbers; judged by
# `_phone_or_not`, so that dates, times and counts stay readable.
_PHONE_LIKE = re.compile(r"(?<![\w+])(?:\+|00)?\(?\d[\d ().-]{5,}\d(?![\w])")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}")
_BASIC_AUTH = re.compile(r"(?i)(basic\s+)[A-Za-z0-9+/=]{4,}")


def _phone_or_not(match: re.Match[str]) -> str:
    text = match.group(0)
    digits = sum(char.isdigit() for char in text)
    international = text.startswith(("+", "00"))
    if _DATE_LIKE.match(text) or digits > 15:
        return text
    if digits >= 10 or (international and digits >= 7):
        return PHONE_MASK
    return text


class _Secrets:
    """The secrets of this process, registered once the settings are read."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: tuple[str, ...] = ()

    def add(self, *secrets: str) -> None:
        forms = set(self._values)
        for secret in secrets:
            if len(secret) >= 4:
                forms.add(secret)
                # what an HTTP Basic header carries for `secret:` (empty password)
                forms.add(base64.b64encode(f"{secret}:".encode()).decode())
        with self._lock:
            # longest first, so a secret inside another is not half-replaced
            self._values = tuple(sorted(forms, key=len, reverse=True))

    def clear(self) -> None:
        with self._lock:
            self._values = ()

    def mask(self, text: str) -> str:
        for secret in self._values:
            if secret in text:
                text = text.replace(secret, SECRET_MASK)
        return text


SECRETS = _Secrets()


def register_secrets(*secrets: str | None) -> None:
    """Makes `mask_text` hide these values (and their Basic-auth form) from now on."""
    SECRETS.add(*(secret for secret in secrets if secret))


def mask_text(text: str) -> str:
    """The text with secrets, e-mail addresses and phone numbers replaced."""
    text = SECRETS.mask(text)
    text = _BASIC_AUTH.sub(r"\1" + SECRET_MASK, text)
    text = _EMAIL.sub(EMAIL_MASK, text)
    return _PHONE_LIKE.sub(_phone_or_not, text)


def mask_payload(value: Any, *, key: str | None = None) -> Any:
    """A copy of a JSON-like value that is safe to print (dry-run samples)."""
    if isinstance(value, Mapping):
        return {name: mask_payload(item, key=str(name)) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [mask_payload(item) for item in value]
    trait = key.rsplit(".", 1)[-1].lower() if key is not None else ""
    if trait in PERSONAL_TRAITS and value is not None:
        return PERSONAL_TRAITS[trait]
    if isinstance(value, str):
        return mask_text(value)
    return value


class RedactingFilter(logging.Filter):
    """A logging filter that masks every record it passes (attach to handlers)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        record.msg = mask_text(message)
        record.args = None
        return True


class Pseudonymizer:
    """Keyed pseudonyms: HMAC-SHA256(key, value), hex. Never a bare hash."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the pseudonymisation key must be at least 16 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "Pseudonymizer(key=<secret>)"

    def pseudonym(self, value: str) -> str:
        return hmac.new(self._key, value.encode(), hashlib.sha256).hexdigest()

    def pseudonyms(self, values: Iterable[str]) -> list[str]:
        return [self.pseudonym(value) for value in values]
