"""Customer.io's published OpenAPI schemas, as validators for what the connector sends.

The schema is the excerpt in tests/reference/customerio/ (a copy of
../shared/reference/customerio/data-pipelines.yaml, kept in the repository so
that a clean clone tests without the shared folder; `CIO_PRIVACY_REFERENCE_DIR`
points elsewhere). Validated with
jsonschema (draft 7 reads OpenAPI 3.0 schemas: `example`, `readOnly` and
`x-*` keys are annotations), with the errata the reference README lists:

- `suppress_person` / `unsuppress_person` allow only "User Deleted" in their
  `event` enum; their examples and the documentation use "User Suppressed" /
  "User Unsuppressed", so the enums are extended with those names here.
- Found here, not in that README: in `BatchExecuteRequestsRequest`, the
  "Anonymous User" variant of a Track item does not require `anonymousId`
  (the standalone `TrackingEventSubmissionRequest` does), so every track
  with a userId matches both variants of the item's `oneOf` and no batch
  with a track could ever be valid. The variant is given the standalone
  schema's `required` list here.
- `format: date-time` is checked (jsonschema only checks formats it is told
  to): RFC 3339, as Customer.io's "ISO-8601 timestamp" is meant.
"""

from __future__ import annotations

import copy
import datetime as dt
import functools
import os
import re
from pathlib import Path
from typing import Any

import orjson
import yaml
from jsonschema import Draft7Validator, FormatChecker

from tests.conftest import REPO

REFERENCE_DIR = Path(
    os.environ.get("CIO_PRIVACY_REFERENCE_DIR", REPO / "tests" / "reference" / "customerio")
)
ERRATA_EVENTS = {"suppress_person": "User Suppressed", "unsuppress_person": "User Unsuppressed"}
# which schema each privacy event must satisfy besides the generic track schema
EVENT_SCHEMAS = {
    "User Suppressed": "suppress_person",
    "User Unsuppressed": "unsuppress_person",
    "User Deleted": "delete_person",
}
_RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})\Z")

FORMATS = FormatChecker(formats=())


@FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # not a string: the `type` keyword's business
    if not _RFC3339.match(value):
        return False
    dt.datetime.fromisoformat(value)
    return True


@functools.cache
def data_pipelines_spec() -> dict[str, Any]:
    path = REFERENCE_DIR / "data-pipelines.yaml"
    assert path.is_file(), (
        f"Customer.io's OpenAPI excerpts are not at {REFERENCE_DIR}; "
        "set CIO_PRIVACY_REFERENCE_DIR to the folder that holds data-pipelines.yaml"
    )
    spec: dict[str, Any] = yaml.safe_load(path.read_text())
    schemas = spec["components"]["schemas"]
    for name, event in ERRATA_EVENTS.items():
        enum = schemas[name]["properties"]["event"]["enum"]
        if event not in enum:
            enum.append(event)
    batch_items = schemas["BatchExecuteRequestsRequest"]["properties"]["batch"]["items"]["anyOf"]
    track = next(item for item in batch_items if item["title"] == "Track")
    anonymous = next(variant for variant in track["oneOf"] if variant["title"] == "Anonymous User")
    required = anonymous["allOf"][0]["required"]
    if "anonymousId" not in required:
        required.append("anonymousId")
    return spec


@functools.cache
def validator(schema_name: str) -> Draft7Validator:
    """A validator for `#/components/schemas/<schema_name>` of the Data Pipelines spec."""
    root = copy.copy(data_pipelines_spec())
    root["$ref"] = f"#/components/schemas/{schema_name}"
    Draft7Validator.check_schema(root)
    return Draft7Validator(root, format_checker=FORMATS)


def schema_errors(instance: Any, schema_name: str) -> list[str]:
    return [
        f"{schema_name}: {'/'.join(map(str, error.absolute_path)) or '(root)'}: {error.message}"
        for error in validator(schema_name).iter_errors(instance)
    ]


def call_errors(call: dict[str, Any]) -> list[str]:
    """What is wrong with one call of the connector: identify, or track of a privacy event."""
    call_type = call.get("type")
    if call_type == "identify":
        return schema_errors(call, "IdentificationPersonTraitsAssignmentRequest")
    if call_type == "track":
        errors = schema_errors(call, "TrackingEventSubmissionRequest")
        event_schema = EVENT_SCHEMAS.get(str(call.get("event")))
        if event_schema is None:
            return [*errors, f"track: {call.get('event')!r} is not a privacy semantic event"]
        return errors + schema_errors(call, event_schema)
    return [f"the connector sends identify and track calls only, not {call_type!r}"]


def batch_errors(body: bytes) -> list[str]:
    """What is wrong with a /v1/batch request body: the batch schema, then every call's."""
    document = orjson.loads(body)
    errors = schema_errors(document, "BatchExecuteRequestsRequest")
    for index, call in enumerate(document.get("batch", [])):
        errors += [f"batch[{index}] {error}" for error in call_errors(call)]
    return errors
