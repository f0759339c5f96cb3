"""What the last dbt build produced: rows per public model, quarantined rows by reason.

Public models are those under an enforced dbt contract (contracts.md); their
relations are read from dbt's manifest, so the summary follows the project.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cio_privacy.errors import UsageError
from cio_privacy.warehouse import Warehouse

REJECTED_MODEL = "privacy_events_rejected"


@dataclass
class BuildSummary:
    target: str
    model_rows: dict[str, int] = field(default_factory=dict)
    rejected_by_reason: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "model_rows": self.model_rows,
            "rejected_by_reason": self.rejected_by_reason,
        }


def public_relations(manifest_path: Path) -> dict[str, str]:
    """Model name -> relation name, for every model with an enforced contract."""
    if not manifest_path.is_file():
        raise UsageError(f"no dbt manifest at {manifest_path}; run 'dbt build' first")
    manifest = json.loads(manifest_path.read_text())
    relations = {}
    for node in manifest["nodes"].values():
        contract = node.get("config", {}).get("contract", {})
        if node["resource_type"] == "model" and contract.get("enforced"):
            relations[node["name"]] = node["relation_name"]
    return dict(sorted(relations.items()))


def summarize(warehouse: Warehouse, relations: dict[str, str]) -> BuildSummary:
    summary = BuildSummary(target=warehouse.target.name)
    for model, relation in relations.items():
        summary.model_rows[model] = int(warehouse.query(f"select count(*) from {relation}")[0][0])
    if REJECTED_MODEL in relations:
        rows = warehouse.query(
            f"select rejection_reason, count(*) from {relations[REJECTED_MODEL]} "
            "group by rejection_reason order by rejection_reason"
        )
        summary.rejected_by_reason = {str(reason): int(count) for reason, count in rows}
    return summary
