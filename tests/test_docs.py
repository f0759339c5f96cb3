"""The project documents itself: what `dbt docs` and a BI tool show is complete.

One `dbt parse` (no warehouse needed) writes target/manifest.json into a
temporary folder; the tests read the models, seeds and semantic layer from it,
and the public models and their columns from ../shared/spec/contracts.md (on a
clean clone without the shared folder: the names in PUBLIC_MODELS, which a
test keeps equal to the contracts' list):

- every model and seed, and every column the yml declares, has a description;
- every model the yml declares exists (dbt only warns about a yml entry whose
  SQL file is gone);
- every public model of the contracts exists (unless it belongs to a later
  issue and is not built yet), is under an enforced contract with a data_type
  on every column, declares the contract's columns, and its description cites
  the rule it implements (R<n>) and its legal source;
- every semantic model, measure and metric has a description.

And the README's answer to "which users may I email today?" is a query that
runs: on the 2,000-user parity build it gives one answer per known user, and
the same answers on Spark.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from tests.conftest import REPO, DbtResult
from tests.rows import model_relations, rows

CONTRACTS = REPO.parent / "shared" / "spec" / "contracts.md"
PUBLIC_MODELS = {
    "privacy_events_rejected",
    "consent_history",
    "consent_state",
    "suppression_state",
    "dsr_requests",
    "retention_candidates",
    "customerio_actions",
    "customerio_sync_log",
    "privacy_audit_log",
    "compliance_metrics_daily",
}
# Public models of a later issue: allowed to be missing, checked like the rest once built.
NOT_YET_BUILT_ALLOWED = {"customerio_actions", "customerio_sync_log"}
RULE = re.compile(r"\bR\d+\b")
LEGAL_SOURCE = re.compile(r"\bArt\. ?\d|GDPR|CCPA|CAN-SPAM|TCPA|ePrivacy")
IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from dbt.cli.main import dbtRunner

    target_path = tmp_path_factory.mktemp("dbt-parse")
    # parse answers with a Manifest, not run results, hence dbtRunner and not run_dbt
    parse = dbtRunner().invoke(
        [
            "parse",
            "--profiles-dir",
            str(REPO),
            "--project-dir",
            str(REPO),
            "--target-path",
            str(target_path),
            "--log-path",
            str(target_path / "logs"),
            "--no-partial-parse",
        ]
    )
    assert parse.success, parse.exception
    loaded: dict[str, Any] = json.loads((target_path / "manifest.json").read_text())
    return loaded


def _nodes(manifest: dict[str, Any], resource_type: str) -> dict[str, dict[str, Any]]:
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == resource_type and node["package_name"] == "customerio_privacy"
    }


def _contracts_public_models() -> dict[str, list[str]]:
    """Model name -> the column names the contracts table lists for it."""
    section = CONTRACTS.read_text().split("## Public models", 1)[1].split("\n## ", 1)[0]
    models: dict[str, list[str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) < 3 or not cells[0].startswith("`"):
            continue
        # "payload (JSON text: ...)" names payload; in a cell mixing prose and names
        # ("all raw columns, rejection_reason") only snake_case words are taken as names
        listed = re.sub(r"\([^)]*\)", "", cells[2])
        parts = [part.strip() for part in listed.split(",")]
        names = [part for part in parts if IDENTIFIER.fullmatch(part)]
        if len(names) < len(parts):
            names = [name for name in names if "_" in name]
        models[cells[0].strip("`")] = names
    assert models, "no public models found in contracts.md"
    return models


def _public_models() -> dict[str, list[str]]:
    if CONTRACTS.exists():
        return _contracts_public_models()
    return {name: [] for name in PUBLIC_MODELS}


def _declared_in_yml(kind: str, folder: str) -> set[str]:
    declared: set[str] = set()
    for path in (REPO / folder).rglob("*.yml"):
        for entry in (yaml.safe_load(path.read_text()) or {}).get(kind) or []:
            declared.add(entry["name"])
    return declared


@pytest.mark.skipif(not CONTRACTS.exists(), reason="no shared spec folder beside the repository")
def test_public_models_list_is_the_contracts_list() -> None:
    assert set(_contracts_public_models()) == PUBLIC_MODELS


def test_every_model_and_seed_has_a_description(manifest: dict[str, Any]) -> None:
    nodes = {**_nodes(manifest, "model"), **_nodes(manifest, "seed")}

    undocumented = sorted(name for name, node in nodes.items() if not node["description"].strip())

    assert nodes
    assert undocumented == []


def test_every_declared_column_has_a_description(manifest: dict[str, Any]) -> None:
    nodes = {**_nodes(manifest, "model"), **_nodes(manifest, "seed")}

    undocumented = sorted(
        f"{name}.{column_name}"
        for name, node in nodes.items()
        for column_name, column in node["columns"].items()
        if not column["description"].strip()
    )

    assert undocumented == []


def test_every_model_declared_in_yml_exists(manifest: dict[str, Any]) -> None:
    missing_models = _declared_in_yml("models", "models") - set(_nodes(manifest, "model"))
    missing_seeds = _declared_in_yml("seeds", "seeds") - set(_nodes(manifest, "seed"))

    assert sorted(missing_models) == []
    assert sorted(missing_seeds) == []


def test_every_model_has_its_yml(manifest: dict[str, Any]) -> None:
    without_yml = sorted(
        name for name, node in _nodes(manifest, "model").items() if not node.get("patch_path")
    )

    assert without_yml == []


def test_public_models_exist_under_enforced_contracts(manifest: dict[str, Any]) -> None:
    models = _nodes(manifest, "model")
    problems = []

    for name, contract_columns in _public_models().items():
        node = models.get(name)
        if node is None:
            if name not in NOT_YET_BUILT_ALLOWED:
                problems.append(f"{name}: missing")
            continue
        if not node["config"]["contract"]["enforced"]:
            problems.append(f"{name}: contract not enforced")
        problems += [
            f"{name}.{column}: no data_type"
            for column, declared in node["columns"].items()
            if not declared.get("data_type")
        ]
        problems += [
            f"{name}.{column}: in contracts.md, not declared"
            for column in contract_columns
            if column not in node["columns"]
        ]

    assert problems == []


def test_public_model_descriptions_cite_a_rule_and_a_legal_source(
    manifest: dict[str, Any],
) -> None:
    models = _nodes(manifest, "model")
    problems = []

    for name in _public_models():
        if name not in models:
            continue
        description = models[name]["description"]
        if not RULE.search(description):
            problems.append(f"{name}: cites no rule (R<n>)")
        if not LEGAL_SOURCE.search(description):
            problems.append(f"{name}: cites no legal source (Art., GDPR, CCPA, ...)")

    assert problems == []


def test_semantic_models_measures_and_metrics_are_described(manifest: dict[str, Any]) -> None:
    semantic_models = list(manifest["semantic_models"].values())
    metrics = list(manifest["metrics"].values())

    undocumented = [
        f"semantic model {model['name']}"
        for model in semantic_models
        if not (model.get("description") or "").strip()
    ]
    undocumented += [
        f"measure {model['name']}.{measure['name']}"
        for model in semantic_models
        for measure in model["measures"]
        if not (measure.get("description") or "").strip()
    ]
    undocumented += [
        f"metric {metric['name']}"
        for metric in metrics
        if not (metric.get("description") or "").strip()
    ]

    assert semantic_models
    assert metrics
    assert undocumented == []


def _readme_email_query() -> str:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### Which users may I email today", 1)[1]
    return section.split("```sql\n", 1)[1].split("```", 1)[0]


def _duckdb_email_answers(duckdb_path: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(duckdb_path)) as con:
        con.execute("set schema 'main'")
        return con.execute(_readme_email_query()).fetchall()


def _erasures(build: DbtResult) -> str:
    return model_relations(build.target_path)["int_erasures"]


def test_readme_email_query_answers_once_for_every_known_user(
    duckdb_build: DbtResult, duckdb_path: Path
) -> None:
    answers = _duckdb_email_answers(duckdb_path)
    with duckdb.connect(str(duckdb_path)) as con:
        known = con.execute("select count(distinct user_id) from main.suppression_state").fetchone()
        erased = {
            user
            for (user,) in con.execute(f"select user_id from {_erasures(duckdb_build)}").fetchall()
        }

    assert known == (len(answers),)
    assert len({user for user, *_ in answers}) == len(answers)
    assert all(may_email == (why_not is None) for _, may_email, why_not, _ in answers)
    assert {why_not for _, _, why_not, _ in answers} >= {None, "no_consent", "erasure"}
    assert erased
    assert not {user for user, may_email, *_ in answers if may_email} & erased


@pytest.mark.spark
def test_readme_email_query_gives_the_same_answers_on_spark(
    duckdb_build: DbtResult, spark_build: DbtResult, duckdb_path: Path, spark: Any
) -> None:
    schema = model_relations(spark_build.target_path)["suppression_state"].split(".")[0]
    previous = spark.catalog.currentDatabase()
    spark.catalog.setCurrentDatabase(schema.strip("`"))
    try:
        on_spark = [tuple(row) for row in spark.sql(_readme_email_query()).collect()]
    finally:
        spark.catalog.setCurrentDatabase(previous)

    assert rows(on_spark) == rows(_duckdb_email_answers(duckdb_path))
