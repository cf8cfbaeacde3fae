"""``mast simulate``: build the synthetic local authority and write it to the store."""

from __future__ import annotations

import math
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from mast.errors import parameter_words
from mast.progress import console, progress_bar
from mast.settings import get_settings

# SimulationConfig field -> the option a user typed, for error messages.
_OPTION = {
    "n_children": "--children",
    "years": "--years",
    "random_state": "--random-state",
    "exposure_bias": "--exposure-bias",
    "serious_incident_multiplier": "--si-multiplier",
    "burn_in_years": "--burn-in-years",
    "history_weight": "--history-weight",
    "source_lean": "--source-lean",
    "start": "--start",
}


def simulate(
    children: int = typer.Option(
        20_000, "--children", help="Children aged 0-17 living in the local authority at any time."
    ),
    years: int = typer.Option(
        10,
        "--years",
        help="Years in the observed window: `mast train` needs about 9.7 with its default "
        "periods (three 25-month label gaps), so the default is 10.",
    ),
    random_state: int = typer.Option(
        None,
        "--random-state",
        "--seed",
        help="Seed of every random step (default: the MAST_RANDOM_STATE setting).",
    ),
    db: Path = typer.Option(
        None, "--db", help="DuckDB store to write (created if missing; its tables are replaced)."
    ),
    report: bool = typer.Option(
        False, "--report", help="Print the calibration report: achieved against England targets."
    ),
    exposure_bias: float = typer.Option(
        0.8,
        "--exposure-bias",
        help="How much more visible deprived and Black/Mixed families are to agencies at equal "
        "latent risk (0 switches the bias off; see docs/synthetic-world.md).",
    ),
    source_lean: float = typer.Option(
        1.0,
        "--source-lean",
        help="Strength of the screeners' lean against family, community and anonymous "
        "referrals (1 as calibrated, 0 switches it off).",
    ),
    si_multiplier: float = typer.Option(
        1.0,
        "--si-multiplier",
        help="Multiplier on the serious-incident rate, to check their profile on smaller runs.",
    ),
    burn_in_years: int = typer.Option(
        3,
        "--burn-in-years",
        help="Years simulated before the window so early referrals have history.",
    ),
    start: str = typer.Option(
        "2015-04-01", "--start", help="First day of the observed window (YYYY-MM-DD)."
    ),
    agency_identities: bool = typer.Option(
        False,
        "--agency-identities",
        help="Also write each agency's own records of each person, with realistic errors "
        "(contract 1.1, for `mast link`); which person is behind each record goes to the "
        "truth schema only.",
    ),
    validate: bool = typer.Option(
        True,
        "--validate/--no-validate",
        help="Check the tables against the data contract before writing (slow on huge runs).",
    ),
) -> None:
    """Simulate one English local authority's multi-agency records into the store.

    The run is seeded and deterministic.  The contract tables and the latent
    harm (schema ``truth``, never read by features or models) are written in
    one transaction: on any error nothing is written.
    """
    from pydantic import ValidationError

    from store import ContractError, connect, set_meta, validate_tables, write_tables
    from store.identities import validate_identity_tables, write_identity_tables
    from synthetic import SimulationConfig, calibration_report
    from synthetic import simulate as run_simulation

    settings = get_settings()
    db = db or settings.db
    try:
        config = SimulationConfig(
            n_children=children,
            years=years,
            random_state=settings.random_state if random_state is None else random_state,
            exposure_bias=exposure_bias,
            source_lean=source_lean,
            serious_incident_multiplier=si_multiplier,
            burn_in_years=burn_in_years,
            start=start,
        )
    except ValidationError as err:
        for problem in err.errors():
            field = str(problem["loc"][0]) if problem["loc"] else "?"
            console.print(
                f"[red]Invalid {_OPTION.get(field, field)}:[/red] {parameter_words(problem)}. "
                "Nothing was written.",
                soft_wrap=True,
            )
        raise typer.Exit(code=2) from err

    with progress_bar() as progress:
        world = run_simulation(config, progress=progress)
        identities = None
        if agency_identities:
            from synthetic.identities import simulate_agency_identities

            progress("writing agency identities", 0, 1)
            from synthetic.named_adults import simulate_named_adults

            identities = simulate_agency_identities(world.tables, config.random_state)
            named = simulate_named_adults(
                world.tables,
                identities.tables["agency_records"],
                identities.truth,
                config.random_state,
            )
            identities.tables["referral_named_adults"] = named.table
            progress("writing agency identities", 1, 1)
        if validate:
            progress("checking the data contract", 0, 1)
            try:
                validate_tables(world.tables)
                if identities is not None:
                    validate_identity_tables(
                        identities.tables,
                        world.tables["agency_events"],
                        world.tables["referrals"]["referral_id"],
                    )
            except ContractError as err:  # a simulator bug, never a user error
                console.print(f"[red]The simulated tables break the contract:[/red] {err}")
                raise typer.Exit(code=1) from err
            progress("checking the data contract", 1, 1)
        progress("writing the store", 0, 1)
        con = connect(db)
        try:
            also = None
            if identities is not None:

                def also(c):
                    write_identity_tables(
                        c,
                        identities.tables,
                        identities.truth,
                        replace=True,
                        named_truth=named.truth,
                    )

            write_tables(con, world.tables, truth=world.truth, replace=True, also=also)
            set_meta(con, "synthetic_config", config.model_dump_json())
            progress("writing the store", 1, 1)
            summary = Table("table", "rows", title=f"Simulated into {db}")
            for name, frame in world.tables.items():
                summary.add_row(name, f"{len(frame):,}")
            summary.add_row("truth.latent_harm", f"{len(world.truth):,}")
            if identities is not None:
                for name, frame in identities.tables.items():
                    summary.add_row(name, f"{len(frame):,}")
                summary.add_row("truth.agency_record_people", f"{len(identities.truth):,}")
                summary.add_row("truth.referral_named_adult_people", f"{len(named.truth):,}")
        finally:
            con.close()
    console.print(summary)
    if report:
        console.print(_report_table(calibration_report(world, config)))


def _report_table(frame) -> Table:
    table = Table(
        "quantity", "achieved", "target", "range", "source", title="Calibration against England"
    )
    for row in frame.itertuples(index=False):
        colour = "green" if row.within else "red"
        achieved = "n/a (run too short)" if math.isnan(row.achieved) else f"{row.achieved:.2f}"
        target = "-" if math.isnan(row.target) else f"{row.target:.2f}"
        table.add_row(
            # Quantities may carry a note in brackets, which rich would read as markup.
            escape(row.quantity),
            f"[{colour}]{achieved}[/{colour}]",
            target,
            f"{row.low:g}-{row.high:g}",
            row.source,
        )
    return table


def register(app: typer.Typer) -> None:
    app.command("simulate")(simulate)
