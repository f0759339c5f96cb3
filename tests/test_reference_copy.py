"""The repository's copy of Customer.io's OpenAPI excerpt is the shared reference, unedited."""

from __future__ import annotations

import pytest

from tests.conftest import REPO

SHARED = REPO.parent / "shared" / "reference" / "customerio" / "data-pipelines.yaml"
COPY = REPO / "tests" / "reference" / "customerio" / "data-pipelines.yaml"


@pytest.mark.skipif(not SHARED.exists(), reason="no shared reference folder beside the repository")
def test_the_copied_excerpt_equals_the_shared_reference() -> None:
    assert COPY.read_bytes() == SHARED.read_bytes()
