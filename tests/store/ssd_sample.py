"""A small Standard Safeguarding Dataset extract, written by our own generator.

Not the project's simulator: CSV text laid out as an SSD extract from a case
management system would be (``ssd_<object>.csv``, SQL Server style
``2024-04-02 00:00:00.000`` timestamps beside plain dates, DfE codes), with a
police extract beside it that names people by police reference, linked to
the SSD person through ``ssd_linked_identifiers``.

One family is planted with known answers (see ``PLANTED``); ``n_families``
more are random filler (``random_state``).  ``python -m tests.store.ssd_sample
DIR`` writes the sample shipped in ``docs/examples/ssd``.
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import numpy as np

from store.codes import DFE_ETHNICITY

# Referral R2 about child C1, 2 April 2024: what its features must say.
PLANTED = {
    ("SSD-R2", "C1"): {
        "child_age_months": 120,  # born 3 March 2014
        "child_prior_referrals_ever": 1,  # R1, January 2023
        "siblings_cp_plan_current_sum": 1,  # C2's plan from May 2023, still open
        "adults_da_perpetrator_12m_sum": 1,  # P1's police incident, March 2024
        "new_adults_da_perpetrator_ever_max": 1,  # P1 moved in September 2023
        "referral_source_police": 1,
    }
}

HEADERS = {
    "ssd_person": ["pers_person_id", "pers_forename", "pers_sex", "pers_gender", "pers_ethnicity",
                   "pers_dob", "pers_expected_dob", "pers_common_child_id"],
    "ssd_family": ["fami_table_id", "fami_family_id", "fami_person_id"],
    "ssd_address": ["addr_table_id", "addr_person_id", "addr_address_type", "addr_address_start_date",
                    "addr_address_end_date", "addr_address_postcode"],
    "ssd_disability": ["disa_person_id", "disa_table_id", "disa_disability_code"],
    "ssd_mother": ["moth_table_id", "moth_person_id", "moth_childs_person_id", "moth_childs_dob"],
    "ssd_cin_episodes": ["cine_referral_id", "cine_person_id", "cine_referral_date",
                         "cine_cin_primary_need_code", "cine_referral_source_code",
                         "cine_referral_source_desc", "cine_referral_nfa", "cine_close_reason",
                         "cine_close_date", "cine_referral_team"],
    "ssd_cin_assessments": ["cina_assessment_id", "cina_person_id", "cina_referral_id",
                            "cina_assessment_start_date", "cina_assessment_child_seen",
                            "cina_assessment_auth_date"],
    "ssd_assessment_factors": ["cinf_table_id", "cinf_assessment_id", "cinf_assessment_factors_json"],
    "ssd_s47_enquiry": ["s47e_s47_enquiry_id", "s47e_referral_id", "s47e_person_id",
                        "s47e_s47_start_date", "s47e_s47_end_date", "s47e_s47_nfa"],
    "ssd_initial_cp_conference": ["icpc_icpc_id", "icpc_s47_enquiry_id", "icpc_person_id",
                                  "icpc_cp_plan_id", "icpc_referral_id", "icpc_icpc_date"],
    "ssd_cp_plans": ["cppl_cp_plan_id", "cppl_referral_id", "cppl_icpc_id", "cppl_person_id",
                     "cppl_cp_plan_start_date", "cppl_cp_plan_end_date", "cppl_cp_plan_initial_category"],
    "ssd_cla_episodes": ["clae_cla_episode_id", "clae_person_id", "clae_cla_episode_start_date",
                         "clae_cla_episode_start_reason", "clae_cla_episode_ceased_date",
                         "clae_cla_episode_ceased_reason", "clae_referral_id"],
    "ssd_linked_identifiers": ["link_table_id", "link_person_id", "link_identifier_type",
                               "link_identifier_value", "link_valid_from_date", "link_valid_to_date"],
    "ssd_contacts": ["cont_contact_id", "cont_person_id", "cont_contact_date",
                     "cont_contact_source_code", "cont_contact_source_desc"],
    "agency_events": ["event_id", "person_id", "agency", "event_type", "occurred_at",
                      "recorded_at", "role", "severity"],
}  # fmt: skip

SOURCES = ["1A", "1B", "2A", "3A", "3B", "3E", "5A", "6", "8", "9"]


def _sql(day: str) -> str:
    """A date as SQL Server writes a datetime."""
    return f"{day} 00:00:00.000"


def _planted(rows: dict[str, list[list]]) -> None:
    rows["ssd_person"] += [
        ["C1", "Amy", "2", "2", "MWBC", _sql("2014-03-03"), "", "NHS-C1"],
        ["C2", "Ben", "1", "1", "MWBC", "2019-06-10", "", ""],
        ["M1", "Cara", "2", "2", "WBRI", "1990-05-05", "", ""],
        ["P1", "Dan", "1", "1", "BCRB", "1988-01-01", "", ""],
    ]
    rows["ssd_family"] += [[f"F1-{p}", "F1", p] for p in ("C1", "C2", "M1", "P1")]
    rows["ssd_address"] += [
        ["AD1", "M1", "Home", "2012-01-01", "", "ZZ1 1ZZ"],
        ["AD2", "P1", "Home", _sql("2023-09-01"), "", "ZZ1 1ZZ"],
    ]
    rows["ssd_disability"] += [["C1", "D1", "NONE"], ["C2", "D2", "COMM"]]
    rows["ssd_mother"] += [["MO1", "M1", "C1", "2014-03-03"], ["MO2", "M1", "C2", "2019-06-10"]]
    rows["ssd_cin_episodes"] += [
        ["SSD-R1", "C1", _sql("2023-01-10"), "N1", "3A", "GP", "N", "RC8", "2023-02-20", "MASH"],
        ["SSD-R2", "C1", _sql("2024-04-02"), "", "6", "Police", "", "", "", "MASH"],
        ["SSD-R3", "C2", "2023-04-01", "N1", "2A", "School", "N", "", "", "MASH"],
    ]
    rows["ssd_cin_assessments"] += [["A1", "C1", "SSD-R1", "2023-01-15", "Y", "2023-02-10"]]
    rows["ssd_assessment_factors"] += [["AF1", "A1", '["3B", "4B"]']]
    rows["ssd_s47_enquiry"] += [["S1", "SSD-R3", "C2", "2023-04-03", "2023-04-20", "N"]]
    rows["ssd_initial_cp_conference"] += [["I1", "S1", "C2", "CP1", "SSD-R3", "2023-04-28"]]
    rows["ssd_cp_plans"] += [["CP1", "SSD-R3", "I1", "C2", "2023-05-01", "", "Neglect"]]
    rows["ssd_linked_identifiers"] += [["L1", "P1", "Police reference", "PNC-77", "2020-01-01", ""]]
    rows["ssd_contacts"] += [["K1", "C1", "2024-04-02", "6", "Police"]]
    rows["agency_events"] += [
        ["POL-1", "PNC-77", "police", "domestic_incident", "2024-03-01 23:10:00",
         "2024-03-02 09:00:00", "perpetrator", "2"],
    ]  # fmt: skip


def generate(n_families: int = 20, random_state: int = 0) -> dict[str, list[list]]:
    """Rows per SSD object (and the police extract): the planted family plus filler."""
    rng = np.random.default_rng(random_state)
    rows: dict[str, list[list]] = {name: [] for name in HEADERS}
    _planted(rows)
    codes = list(DFE_ETHNICITY)
    for f in range(n_families):
        fam, mum, kid = f"F{f + 2}", f"M{f + 2}", f"K{f + 2}"
        born = np.datetime64("2008-01-01") + int(rng.integers(0, 5000))
        eth = codes[int(rng.integers(0, len(codes)))]
        rows["ssd_person"] += [
            [kid, "", str(rng.integers(1, 3)), "", eth, str(born), "", ""],
            [mum, "", "2", "2", eth, str(born - 9000), "", ""],
        ]
        rows["ssd_family"] += [[f"{fam}-{kid}", fam, kid], [f"{fam}-{mum}", fam, mum]]
        rows["ssd_mother"] += [[f"MO-{kid}", mum, kid, str(born)]]
        if rng.random() < 0.3:
            rows["ssd_disability"] += [[kid, f"D-{kid}", str(rng.choice(["NONE", "LD", "AUT"]))]]
        for r in range(int(rng.integers(1, 3))):
            ref = f"SSD-{kid}-{r}"
            day = born + 3000 + int(rng.integers(0, 2000))
            nfa = rng.random() < 0.4
            rows["ssd_cin_episodes"] += [
                [ref, kid, _sql(str(day)), "N1", str(rng.choice(SOURCES)), "", "Y" if nfa else "N",
                 "RC8" if nfa else "", str(day + 5) if nfa else "", "MASH"]
            ]  # fmt: skip
            if not nfa:
                rows["ssd_cin_assessments"] += [
                    [f"A-{ref}", kid, ref, str(day + 3), "Y", str(day + 30)]
                ]
                if rng.random() < 0.3:
                    rows["ssd_s47_enquiry"] += [
                        [f"S-{ref}", ref, kid, str(day + 2), str(day + 20), "N"]
                    ]
        if rng.random() < 0.1:
            rows["ssd_cla_episodes"] += [
                [f"LA-{kid}", kid, str(born + 4000), "L1", str(born + 4300), "E11", ""]
            ]
    return rows


def write(directory: str | Path, n_families: int = 20, random_state: int = 0) -> Path:
    """Write the sample as CSV files in ``directory``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for name, rows in generate(n_families, random_state).items():
        with open(directory / f"{name}.csv", "w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(HEADERS[name])
            out.writerows(rows)
    return directory


if __name__ == "__main__":
    write(sys.argv[1] if len(sys.argv) > 1 else "docs/examples/ssd")
