"""Read Data to Insight's Standard Safeguarding Dataset (SSD) into the data contract.

Many English local authorities extract their children's social care records
in the SSD (github ``data-to-insight/ssd-data-model``: ``data/objects/*.yml``
for the objects, ``data/categories__future_release/*.yml`` for the codes).
:func:`read_ssd` maps the objects a front door needs into the contract's
tables; every mapping decision is documented in ``docs/data-contract.md``
("The Standard Safeguarding Dataset").  The SSD holds no police, health,
education or other agencies' records: those come as ``agency_events.csv`` in
the contract's own form beside the SSD files, and may name people by any of
the identifiers in ``ssd_linked_identifiers`` (an NHS number, a police
reference) as well as by the SSD person id.

The SSD holds dates, not the moment a record was entered, so every
children's social care event read from it is taken as recorded at the end of
the day it happened: a referral received that day does not see it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from store.codes import disability_group, ethnicity_group, sex_group
from store.contract import SCHEMAS, ContractError, Problem, parse_datetimes
from store.load import Extract, _read_csv
from store.vocabulary import CONCERN_COLUMNS, NOT_RECORDED

DAY = pd.Timedelta(days=1)

# The SSD objects read, and the columns each must have.  Other columns of
# these objects are not needed by a front door and are not read.
OBJECTS: dict[str, tuple[str, ...]] = {
    "ssd_person": ("pers_person_id", "pers_sex", "pers_ethnicity", "pers_dob"),
    "ssd_family": ("fami_family_id", "fami_person_id"),
    "ssd_address": ("addr_person_id", "addr_address_start_date"),
    "ssd_disability": ("disa_person_id", "disa_disability_code"),
    "ssd_mother": ("moth_person_id", "moth_childs_person_id"),
    "ssd_contacts": ("cont_contact_id", "cont_person_id", "cont_contact_date"),
    "ssd_cin_episodes": (
        "cine_referral_id",
        "cine_person_id",
        "cine_referral_date",
        "cine_referral_source_code",
        "cine_referral_nfa",
        "cine_close_reason",
        "cine_close_date",
    ),
    "ssd_cin_assessments": (
        "cina_assessment_id",
        "cina_person_id",
        "cina_referral_id",
        "cina_assessment_start_date",
        "cina_assessment_auth_date",
    ),
    "ssd_assessment_factors": ("cinf_assessment_id", "cinf_assessment_factors_json"),
    "ssd_s47_enquiry": (
        "s47e_s47_enquiry_id",
        "s47e_referral_id",
        "s47e_person_id",
        "s47e_s47_start_date",
    ),
    "ssd_initial_cp_conference": ("icpc_icpc_id", "icpc_person_id", "icpc_icpc_date"),
    "ssd_cp_plans": (
        "cppl_cp_plan_id",
        "cppl_person_id",
        "cppl_cp_plan_start_date",
        "cppl_cp_plan_end_date",
    ),
    "ssd_cla_episodes": (
        "clae_cla_episode_id",
        "clae_person_id",
        "clae_cla_episode_start_date",
        "clae_cla_episode_ceased_date",
    ),
    "ssd_linked_identifiers": ("link_person_id", "link_identifier_type", "link_identifier_value"),
}
REQUIRED_OBJECTS = ("ssd_person", "ssd_cin_episodes")

# DfE referral source codes (SSD050 / SSD037) -> (contract source, referrer relationship).
REFERRAL_SOURCE: dict[str, tuple[str, str]] = {
    "1A": ("family", "other_relative"),
    "1B": ("friend_or_neighbour", "neighbour"),
    "1C": ("self", "child_self"),
    "1D": ("other", "unknown"),
    "2A": ("school", "teacher"),
    "2B": ("school", "other_professional"),
    "3A": ("health", "gp"),
    "3B": ("health", "health_visitor"),
    "3C": ("health", "other_professional"),
    "3D": ("health", "other_professional"),
    "3E": ("health", "ed_clinician"),
    "3F": ("health", "other_professional"),
    "4": ("la_service", "housing_officer"),
    "5A": ("la_service", "social_worker"),
    "5B": ("la_service", "other_professional"),
    "5C": ("la_service", "social_worker"),
    "5D": ("la_service", "other_professional"),
    "6": ("police", "police_officer"),
    "7": ("other", "other_professional"),
    "8": ("other", "other_professional"),
    "9": ("anonymous", "unknown"),
    "10": ("other", "unknown"),
}

# DfE CIN closure reasons (SSD052) -> the contract's closure reasons.  Only the
# two "closed after assessment" codes say why the front door closed a case;
# the others end longer involvement and are "other".
CLOSURE_REASON = {"RC8": "no_concerns_substantiated", "RC9": "signposted"}

# SSD statutory steps -> (event type, id column, person column, date column).
EVENTS = (
    ("ssd_cin_assessments", "assessment", "cina_assessment_id", "cina_person_id", "cina_assessment_start_date"),
    ("ssd_s47_enquiry", "section47_enquiry", "s47e_s47_enquiry_id", "s47e_person_id", "s47e_s47_start_date"),
    ("ssd_initial_cp_conference", "initial_child_protection_conference", "icpc_icpc_id", "icpc_person_id", "icpc_icpc_date"),
    ("ssd_cp_plans", "cp_plan_start", "cppl_cp_plan_id", "cppl_person_id", "cppl_cp_plan_start_date"),
    ("ssd_cp_plans", "cp_plan_end", "cppl_cp_plan_id", "cppl_person_id", "cppl_cp_plan_end_date"),
    ("ssd_cla_episodes", "looked_after_start", "clae_cla_episode_id", "clae_person_id", "clae_cla_episode_start_date"),
    ("ssd_cla_episodes", "looked_after_end", "clae_cla_episode_id", "clae_person_id", "clae_cla_episode_ceased_date"),
)  # fmt: skip

Progress = Callable[[str, float, float], None]


def _read(directory: Path, name: str) -> pd.DataFrame | None:
    for suffix in (".csv", ".parquet"):
        path = directory / f"{name}{suffix}"
        if path.exists():
            frame = _read_csv(path) if suffix == ".csv" else pd.read_parquet(path).astype(object)
            frame.columns = [c.strip().lower() for c in frame.columns]
            return frame
    return None


class _Reader:
    """Collects problems while dates and codes are read from the SSD objects."""

    def __init__(self, date_format: str):
        self.date_format = date_format
        self.problems: list[Problem] = []

    def dates(self, obj: str, frame: pd.DataFrame, col: str, required: bool) -> pd.Series:
        raw = frame[col]
        parsed = parse_datetimes(raw, self.date_format)
        bad = raw.notna() & parsed.isna()
        for idx in raw.index[bad][:1000]:
            self.problems.append(Problem(obj, int(idx) + 1, col, f"{raw[idx]!r} is not a date"))
        if required:
            for idx in raw.index[raw.isna()]:
                self.problems.append(
                    Problem(obj, int(idx) + 1, col, "missing value where one is required")
                )
        return parsed.dt.normalize()


def _fmt(ts: pd.Series) -> pd.Series:
    return ts.dt.strftime("%Y-%m-%d %H:%M:%S").where(ts.notna(), None)


def _is_yes(series: pd.Series) -> pd.Series:
    from store.contract import parse_boolean

    return series.map(lambda x: bool(parse_boolean(x)) if x is not None and x == x else False)


def read_ssd(
    directory: str | Path,
    *,
    strict: bool = False,
    date_format: str = "iso",
    local_authority: str = NOT_RECORDED,
    progress: Progress | None = None,
) -> Extract:
    """Map a folder of SSD extracts (``ssd_<object>.csv``/``.parquet``) into contract tables.

    Returns an :class:`store.load.Extract` for :func:`store.load.load_tables`,
    which applies every contract check.  ``dropped_columns`` lists, by SSD
    object, the objects read but not loaded (assessment factors, contacts).

    Raises
    ------
    ContractError
        A required object or column is missing, or a date or code cannot be read.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise ContractError([Problem("(extract)", None, None, f"{directory} is not a directory")])
    problems: list[Problem] = []
    ssd: dict[str, pd.DataFrame] = {}
    for i, (name, columns) in enumerate(OBJECTS.items()):
        if progress:
            progress("Reading the SSD", i, len(OBJECTS))
        frame = _read(directory, name)
        if frame is None:
            if name in REQUIRED_OBJECTS:
                problems.append(Problem(name, None, None, f"required SSD object {name} is missing"))
            continue
        missing = [c for c in columns if c not in frame.columns]
        problems += [Problem(name, None, c, "required column is missing") for c in missing]
        ssd[name] = frame
    known = set(OBJECTS) | {"agency_events"}
    for path in sorted(directory.iterdir()):
        if strict and path.suffix in (".csv", ".parquet") and path.stem not in known:
            problems.append(
                Problem(path.stem, None, None, f"not an SSD object MAST reads (file {path.name})")
            )
    if problems:
        raise ContractError(problems)
    reader = _Reader(date_format)
    tables = {
        "people": _people(ssd, reader),
        **_referrals(ssd, reader),
        **_households(ssd, reader, local_authority),
    }
    events = _csc_events(ssd, reader)
    agency = _read(directory, "agency_events")
    if agency is not None:
        agency = _resolve_identifiers(agency, ssd, tables["people"], reader)
        # Agency rows first, so a problem's row number is its agency_events.csv row.
        events = pd.concat([agency, events], ignore_index=True)
    tables["agency_events"] = events
    if reader.problems:
        # A date read for two purposes (a decision and an event) is named once.
        raise ContractError(list(dict.fromkeys(reader.problems)))
    dropped = [
        (name, "(whole object: see docs/data-contract.md)")
        for name in ("ssd_assessment_factors", "ssd_contacts")
        if name in ssd
    ]
    if progress:
        progress("Reading the SSD", len(OBJECTS), len(OBJECTS))
    return Extract(tables, dropped_columns=dropped)


def _people(ssd: dict[str, pd.DataFrame], reader: _Reader) -> pd.DataFrame:
    """``ssd_person`` (row for row, so a people row number is an ssd_person row number)."""
    p = ssd["ssd_person"]
    dob = p["pers_dob"]
    if "pers_expected_dob" in p.columns:
        dob = dob.fillna(p["pers_expected_dob"])  # the unborn child of a pre-birth referral
    born = reader.dates("ssd_person", p.assign(pers_dob=dob), "pers_dob", required=True)
    sex = p["pers_sex"]
    if "pers_gender" in p.columns:
        sex = sex.fillna(p["pers_gender"])
    disability, disability_detail = _disability(ssd, p["pers_person_id"])
    return pd.DataFrame(
        {
            "person_id": p["pers_person_id"],
            "date_of_birth": _fmt(born),
            "sex": sex.map(lambda x: sex_group(x) or x).fillna(NOT_RECORDED),
            "ethnicity": p["pers_ethnicity"]
            .map(lambda x: ethnicity_group(x) or x)
            .fillna(NOT_RECORDED),
            "disability": disability,
            "sex_detail": sex,
            "ethnicity_detail": p["pers_ethnicity"],
            "disability_detail": disability_detail,
        }
    )


def _disability(ssd, person_ids: pd.Series) -> tuple[pd.Series, pd.Series]:
    """All of a person's ``ssd_disability`` codes: any code but NONE is "Yes"; no rows "Not recorded"."""
    d = ssd.get("ssd_disability")
    if d is None:
        return pd.Series(NOT_RECORDED, index=person_ids.index), pd.Series(
            None, index=person_ids.index, dtype=object
        )
    codes = (
        d.dropna(subset=["disa_disability_code"])
        .groupby("disa_person_id")["disa_disability_code"]
        .agg(lambda c: ",".join(sorted({str(x).strip().upper() for x in c})))
    )
    detail = person_ids.map(codes)
    group = detail.map(lambda x: disability_group(x) or x if isinstance(x, str) else NOT_RECORDED)
    return group, detail


def _referrals(ssd: dict[str, pd.DataFrame], reader: _Reader) -> dict[str, pd.DataFrame]:
    """``ssd_cin_episodes`` -> referrals, referral_children and screening_decisions."""
    c = ssd["ssd_cin_episodes"]
    received = reader.dates("ssd_cin_episodes", c, "cine_referral_date", required=True)
    closed = reader.dates("ssd_cin_episodes", c, "cine_close_date", required=False)
    code = c["cine_referral_source_code"].map(
        lambda x: str(x).strip().upper() if x is not None and x == x else None
    )
    for idx in c.index[code.notna() & ~code.isin(REFERRAL_SOURCE)]:
        reader.problems.append(
            Problem(
                "ssd_cin_episodes",
                int(idx) + 1,
                "cine_referral_source_code",
                f"unknown referral source code {code[idx]!r}",
            )
        )
    mapped = code.map(lambda x: REFERRAL_SOURCE.get(x, ("other", "unknown")))
    first = ~c["cine_referral_id"].duplicated()  # one referral may name several children
    referrals = pd.DataFrame(
        {
            "referral_id": c["cine_referral_id"],
            "received_at": _fmt(received),
            "source": mapped.map(lambda x: x[0]),
            "referrer_relationship": mapped.map(lambda x: x[1]),
            # The SSD records no concern category at referral (the primary need
            # code and assessment factors come later, from assessment), so an
            # SSD referral's only concern is "other".
            **{col: "false" for col in CONCERN_COLUMNS},
        }
    )[first]
    referrals["concern_other"] = "true"
    children = pd.DataFrame(
        {"referral_id": c["cine_referral_id"], "person_id": c["cine_person_id"]}
    ).drop_duplicates()
    decisions = _decisions(ssd, reader, c, received, closed)[first]
    return {
        "referrals": referrals.reset_index(drop=True),
        "referral_children": children.reset_index(drop=True),
        "screening_decisions": decisions.dropna(subset=["decision"]).reset_index(drop=True),
    }


def _first_dates(ssd, reader, obj: str, ref_col: str, date_col: str) -> pd.Series:
    frame = ssd.get(obj)
    if frame is None:
        return pd.Series(dtype="datetime64[ns]")
    dates = reader.dates(obj, frame, date_col, required=False)
    return dates.groupby(frame[ref_col]).min()


def _decisions(ssd, reader, c, received, closed) -> pd.DataFrame:
    """The front door's decision, from what followed the referral.

    A section 47 enquiry on the referral means a strategy discussion was held;
    else an assessment means "assessment"; else the NFA flag means "no further
    action" and closure code RC9 "early help".  A referral with none of these
    is still open and gets no decision row.
    """
    s47 = c["cine_referral_id"].map(
        _first_dates(ssd, reader, "ssd_s47_enquiry", "s47e_referral_id", "s47e_s47_start_date")
    )
    assessed = c["cine_referral_id"].map(
        _first_dates(
            ssd, reader, "ssd_cin_assessments", "cina_referral_id", "cina_assessment_start_date"
        )
    )
    nfa = _is_yes(c["cine_referral_nfa"])
    reason = c["cine_close_reason"].map(
        lambda x: str(x).strip().upper() if x is not None and x == x else None
    )
    decision = pd.Series(None, index=c.index, dtype=object)
    decided = pd.Series(pd.NaT, index=c.index, dtype="datetime64[ns]")
    rules = (
        (s47.notna(), "strategy_discussion", s47),
        (assessed.notna(), "assessment", assessed),
        (nfa, "no_further_action", closed.fillna(received)),
        (reason.eq("RC9"), "early_help", closed.fillna(received)),
    )
    for mask, name, when in reversed(rules):  # the first rule that applies wins
        decision[mask] = name
        decided[mask] = pd.to_datetime(when[mask])
    closure = reason.map(lambda r: CLOSURE_REASON.get(r, "other") if r else None)
    closure[~decision.isin(["no_further_action", "early_help"])] = None
    return pd.DataFrame(
        {
            "referral_id": c["cine_referral_id"],
            # A decision is dated no earlier than the referral it decides.
            "decided_at": _fmt(pd.concat([decided, received], axis=1).max(axis=1)),
            "decision": decision,
            "closure_reason": closure,
        }
    )


def _households(ssd, reader, local_authority: str) -> dict[str, pd.DataFrame]:
    """``ssd_family`` -> households and household_members.

    The SSD says who belongs to a family but not since when, nor in what
    role.  A member's start is their earliest ``ssd_address`` start date,
    else their date of birth; it is taken as recorded at the end of that day.
    A mother in ``ssd_mother`` is a ``parent``; a person under 18 on the
    latest referral date, or the subject of a referral, is a ``child``; any
    other adult is an ``other_adult``.
    """
    f = ssd.get("ssd_family")
    if f is None:
        return {}
    f = f.dropna(subset=["fami_family_id", "fami_person_id"]).drop_duplicates(
        ["fami_family_id", "fami_person_id"]
    )
    p = ssd["ssd_person"]
    born = parse_datetimes(p["pers_dob"], reader.date_format).dt.normalize()
    dob = pd.Series(born.values, index=p["pers_person_id"])
    start = f["fami_person_id"].map(dob)
    a = ssd.get("ssd_address")
    if a is not None:
        moved = reader.dates("ssd_address", a, "addr_address_start_date", required=False)
        first_address = moved.groupby(a["addr_person_id"]).min()
        start = f["fami_person_id"].map(first_address).fillna(start)
    c = ssd["ssd_cin_episodes"]
    latest = parse_datetimes(c["cine_referral_date"], reader.date_format).max()
    subjects = set(c["cine_person_id"])
    mothers = set(ssd["ssd_mother"]["moth_person_id"]) if "ssd_mother" in ssd else set()
    age_days = (latest - f["fami_person_id"].map(dob)).dt.days
    role = pd.Series("other_adult", index=f.index)
    role[age_days < 18 * 365.25] = "child"
    role[f["fami_person_id"].isin(subjects)] = "child"
    role[f["fami_person_id"].isin(mothers) & ~f["fami_person_id"].isin(subjects)] = "parent"
    households = pd.DataFrame({"household_id": f["fami_family_id"].unique()})
    households["imd_decile"] = None  # the SSD holds a postcode, not a deprivation decile
    households["local_authority"] = local_authority
    members = pd.DataFrame(
        {
            "person_id": f["fami_person_id"],
            "household_id": f["fami_family_id"],
            "role": role,
            "start_date": _fmt(start),
            "end_date": None,
            "recorded_at": _fmt(start + DAY),
            "end_recorded_at": None,
        }
    )
    return {"households": households, "household_members": members.reset_index(drop=True)}


def _csc_events(ssd, reader) -> pd.DataFrame:
    """The statutory steps as children's social care events, recorded at the end of their day."""
    parts = []
    for obj, event_type, id_col, person_col, date_col in EVENTS:
        frame = ssd.get(obj)
        if frame is None:
            continue
        when = reader.dates(
            obj, frame, date_col, required=event_type.endswith("start") or "end" not in event_type
        )
        keep = when.notna()
        parts.append(
            pd.DataFrame(
                {
                    "event_id": f"{obj}:{event_type}:" + frame.loc[keep, id_col].astype(str),
                    "person_id": frame.loc[keep, person_col],
                    "agency": "children_social_care",
                    "event_type": event_type,
                    "occurred_at": _fmt(when[keep]),
                    "recorded_at": _fmt(when[keep] + DAY),
                    "role": None,
                    "severity": None,
                }
            )
        )
    columns = list(SCHEMAS["agency_events"].columns)
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=columns)


def _resolve_identifiers(agency: pd.DataFrame, ssd, people: pd.DataFrame, reader) -> pd.DataFrame:
    """Agency extracts may name a person by a linked identifier (NHS number, police reference).

    An id that is an SSD person id is kept; else it is looked up in
    ``ssd_linked_identifiers``.  A value linked to two people is refused
    rather than guessed.
    """
    if "person_id" not in agency.columns:
        return agency  # the contract check names the missing column
    links = ssd.get("ssd_linked_identifiers")
    if links is None:
        return agency
    links = links.dropna(subset=["link_identifier_value", "link_person_id"])
    value = links["link_identifier_value"].astype(str).str.strip()
    owners = links.groupby(value)["link_person_id"].agg(lambda s: sorted(set(s)))
    pid = agency["person_id"]
    lookup = pid.where(~pid.isin(set(people["person_id"])) & pid.notna()).astype(object)
    found = lookup.map(lambda x: owners.get(str(x).strip()) if isinstance(x, str) else None)
    for idx in found.index[found.map(lambda f: f is not None and len(f) > 1)]:
        reader.problems.append(
            Problem(
                "agency_events",
                int(idx) + 1,
                "person_id",
                f"identifier {pid[idx]!r} is linked to more than one person: {found[idx]}",
            )
        )
    single = found.map(lambda f: f[0] if f is not None and len(f) == 1 else None)
    # An id found nowhere is left as it is: the contract names the dangling reference.
    return agency.assign(person_id=single.fillna(pid))
