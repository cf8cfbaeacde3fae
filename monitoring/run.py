"""``run_monitor``: the whole monitor, from the trail and the store to the report in MLflow."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from monitoring.breakdown import GroupRow, group_breakdown
from monitoring.compute import PeriodResult, monitor_periods
from monitoring.policy import MonitoringPolicy, load_monitoring_policy
from monitoring.report import breakdown_lines, summary_lines, write_report
from monitoring.sources import UK, load_inputs


@dataclass
class MonitorResult:
    results: list[PeriodResult]
    lines: list[str]
    report: Path
    version: str
    run_id: str
    policy: MonitoringPolicy
    groups: dict[str, list[GroupRow]] | None = None


def feature_labels() -> dict[str, str]:
    """Plain-English names of the inputs, from the feature catalogue."""
    from features import catalogue

    return {s.name: s.definition for s in catalogue()}


def run_monitor(
    db,
    records_url: str,
    tracking_uri: str,
    model_name: str,
    out_dir: Path,
    start=None,
    end=None,
    policy_file=None,
    log_to_mlflow: bool = True,
) -> MonitorResult:
    """Monitor the champion over the trail's scores from ``start`` to ``end`` (UTC dates)."""
    policy = load_monitoring_policy(policy_file)
    inputs = load_inputs(db, records_url, tracking_uri, model_name, start, end)
    capacity = (
        float(inputs.policy["target"])
        if inputs.policy.get("mode") == "capacity"
        else float(inputs.reference["flag_rate"])
    )
    backtest = inputs.tags.get("backtest_auc")
    backtest_auc = float(backtest) if backtest else _test_auc(inputs.tags)
    labels = feature_labels()
    results = monitor_periods(
        inputs.scored, inputs.reference, policy, capacity, labels, backtest_auc
    )
    groups = (
        group_breakdown(
            inputs.scored.assign(**{c: inputs.groups[c].to_numpy() for c in inputs.groups}),
            policy.min_group,
        )
        if inputs.groups is not None
        else None
    )
    lines = summary_lines(results, policy, labels) + breakdown_lines(groups)
    if inputs.mismatched_scores:
        lines.append(
            f"WARNING: {inputs.mismatched_scores} referral(s) rescored now differ from the score "
            "the trail says was shown: the store or the model changed since."
        )
    now = datetime.now(UK)
    facts = {
        "Model": f"{model_name} version {inputs.version} (champion)",
        "Monitoring policy": policy.version,
        "Flag policy": f"{inputs.policy.get('version')}: flag at score {inputs.policy.get('threshold_score')} or above",
        "Training data compared with": " to ".join(inputs.reference["training_window"]),
        "Outcome": inputs.label_tag,
        "Outcome known after": "24 months and a 30-day recording allowance",
        "Scores by other model versions (not counted)": inputs.other_versions,
        "Scores that differ when recomputed": inputs.mismatched_scores,
        "Store's latest record": str(inputs.data_end.date()),
        "Written": now.strftime("%d %B %Y %H:%M UK time"),
    }
    stamp = now.strftime("%Y%m%d-%H%M%S")
    report = write_report(
        Path(out_dir) / f"monitoring-v{inputs.version}-{stamp}.html",
        results,
        policy,
        labels,
        facts,
        groups,
    )
    if log_to_mlflow:
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=tracking_uri)
        client.log_artifact(inputs.run_id, str(report), artifact_path=f"monitoring/{stamp}")
        client.set_tag(
            inputs.run_id,
            "monitoring_last",
            f"{stamp}: {sum(len(r.breaches) for r in results)} breach(es)",
        )
    return MonitorResult(results, lines, report, inputs.version, inputs.run_id, policy, groups)


def _test_auc(tags: dict) -> float | None:
    try:
        return float(tags["test_auc_proxy"])
    except (KeyError, ValueError):
        return None
