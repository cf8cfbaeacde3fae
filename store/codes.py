"""Codes as English local authorities hold them, mapped to the contract's groups.

Children's social care systems record ethnicity, sex and disability in the
Department for Education's children-in-need census codes (``WBRI``, ``1``,
``NONE``); other systems use the ONS 2021 census's 19 ethnic categories
("White: English, Welsh, Scottish, Northern Irish or British").  The contract
keeps the ONS high-level groups (``store.vocabulary.ETHNICITIES``) so that a
fairness audit has groups big enough to measure; the value as the extract
wrote it is kept beside the group (``people.ethnicity_detail`` and friends),
so the audit can also work at the detailed level.

Matching ignores case and runs of spaces, and treats ``-`` and ``:`` as the
same separator, because the ONS labels are written both ways
("White - Irish", "White: Irish").
"""

from __future__ import annotations

import re

from store.vocabulary import NOT_RECORDED

# DfE children-in-need census ethnicity codes (the 18 codes, plus refused and
# not yet obtained), as the Standard Safeguarding Dataset lists them.
DFE_ETHNICITY: dict[str, tuple[str, str]] = {
    "WBRI": ("White", "White British"),
    "WIRI": ("White", "White Irish"),
    "WIRT": ("White", "Traveller of Irish heritage"),
    "WOTH": ("White", "Any other White background"),
    "WROM": ("White", "Gypsy/Roma"),
    "MWBC": ("Mixed", "White and Black Caribbean"),
    "MWBA": ("Mixed", "White and Black African"),
    "MWAS": ("Mixed", "White and Asian"),
    "MOTH": ("Mixed", "Any other Mixed background"),
    "AIND": ("Asian", "Indian"),
    "APKN": ("Asian", "Pakistani"),
    "ABAN": ("Asian", "Bangladeshi"),
    "AOTH": ("Asian", "Any other Asian background"),
    "BCRB": ("Black", "Caribbean"),
    "BAFR": ("Black", "African"),
    "BOTH": ("Black", "Any other Black background"),
    # ONS 2021 places Chinese in the Asian high-level group (the DfE's older
    # tables showed it on its own); the contract follows the ONS.
    "CHNE": ("Asian", "Chinese"),
    "OOTH": ("Other", "Any other ethnic group"),
    "REFU": (NOT_RECORDED, "Refused"),
    "NOBT": (NOT_RECORDED, "Information not yet obtained"),
}

# The ONS 2021 census's 19 ethnic categories, by their high-level group.
ONS_ETHNICITY: dict[str, str] = {
    "White: English, Welsh, Scottish, Northern Irish or British": "White",
    "White: Irish": "White",
    "White: Gypsy or Irish Traveller": "White",
    "White: Roma": "White",
    "White: Other White": "White",
    "Mixed or Multiple ethnic groups: White and Black Caribbean": "Mixed",
    "Mixed or Multiple ethnic groups: White and Black African": "Mixed",
    "Mixed or Multiple ethnic groups: White and Asian": "Mixed",
    "Mixed or Multiple ethnic groups: Other Mixed or Multiple ethnic groups": "Mixed",
    "Asian, Asian British or Asian Welsh: Indian": "Asian",
    "Asian, Asian British or Asian Welsh: Pakistani": "Asian",
    "Asian, Asian British or Asian Welsh: Bangladeshi": "Asian",
    "Asian, Asian British or Asian Welsh: Chinese": "Asian",
    "Asian, Asian British or Asian Welsh: Other Asian": "Asian",
    "Black, Black British, Black Welsh, Caribbean or African: Caribbean": "Black",
    "Black, Black British, Black Welsh, Caribbean or African: African": "Black",
    "Black, Black British, Black Welsh, Caribbean or African: Other Black": "Black",
    "Other ethnic group: Arab": "Other",
    "Other ethnic group: Any other ethnic group": "Other",
}

# Short forms of the same 19 categories that case-management systems print
# ("White - British", "Mixed - White and Black Caribbean", "Black - African").
_ONS_SHORT: dict[str, str] = {
    "White - British": "White",
    "White - English, Welsh, Scottish, Northern Irish or British": "White",
    "White - Irish": "White",
    "White - Gypsy or Irish Traveller": "White",
    "White - Roma": "White",
    "White - Other White": "White",
    "White - Any other White background": "White",
    "Mixed - White and Black Caribbean": "Mixed",
    "Mixed - White and Black African": "Mixed",
    "Mixed - White and Asian": "Mixed",
    "Mixed - Other Mixed": "Mixed",
    "Mixed - Any other Mixed background": "Mixed",
    "Asian - Indian": "Asian",
    "Asian - Pakistani": "Asian",
    "Asian - Bangladeshi": "Asian",
    "Asian - Chinese": "Asian",
    "Asian - Other Asian": "Asian",
    "Asian - Any other Asian background": "Asian",
    "Black - Caribbean": "Black",
    "Black - African": "Black",
    "Black - Other Black": "Black",
    "Black - Any other Black background": "Black",
    "Other - Arab": "Other",
    "Other - Any other ethnic group": "Other",
    "Arab": "Other",
    "Any other ethnic group": "Other",
    "Refused": NOT_RECORDED,
    "Information not yet obtained": NOT_RECORDED,
    "Not known": NOT_RECORDED,
    "Not stated": NOT_RECORDED,
}

# DfE census sex/gender codes (the SSD's ``pers_sex`` and ``pers_gender``): 1 male,
# 2 female, 0 not yet born / not known, 9 indeterminate or not specified.
DFE_SEX: dict[str, str] = {
    "1": "Male",
    "2": "Female",
    "0": NOT_RECORDED,
    "9": NOT_RECORDED,
    "M": "Male",
    "F": "Female",
    "U": NOT_RECORDED,
    "Male": "Male",
    "Female": "Female",
    "Unknown": NOT_RECORDED,
    "Not known": NOT_RECORDED,
    "Not stated": NOT_RECORDED,
    "Indeterminate": NOT_RECORDED,
}

# DfE census disability codes.  ``NONE`` means no disability; any other code
# (or several, separated by commas or spaces) means a disability is recorded.
DFE_DISABILITY: dict[str, str] = {
    "NONE": "No",
    "AUT": "Yes",
    "BEH": "Yes",
    "COMM": "Yes",
    "CON": "Yes",
    "DDA": "Yes",
    "HAND": "Yes",
    "HEAR": "Yes",
    "INC": "Yes",
    "LD": "Yes",
    "MOB": "Yes",
    "PC": "Yes",
    "VIS": "Yes",
}
_DISABILITY_WORDS = {"Y": "Yes", "N": "No", "TRUE": "Yes", "FALSE": "No", "UNKNOWN": NOT_RECORDED}


def _norm(value: str) -> str:
    text = re.sub(r"\s*[-:–]\s*", " - ", str(value).strip())
    return re.sub(r"\s+", " ", text).casefold()


def _table(groups: dict[str, str], extra: dict[str, str]) -> dict[str, str]:
    return {_norm(k): g for k, g in {**groups, **extra}.items()}


_ETHNICITY = _table(
    {**{code: group for code, (group, _) in DFE_ETHNICITY.items()}, **ONS_ETHNICITY},
    {**_ONS_SHORT, **{label: group for group, label in DFE_ETHNICITY.values()}},
)
_SEX = _table(DFE_SEX, {})


def _group(value, table: dict[str, str], contract: tuple[str, ...]) -> str | None:
    if value is None or value != value:
        return None
    text = str(value).strip()
    if text in contract:
        return text
    return table.get(_norm(text))


def ethnicity_group(value) -> str | None:
    """The ONS high-level group of a DfE code, an ONS label or a group; ``None`` if unknown."""
    from store.vocabulary import ETHNICITIES

    return _group(value, _ETHNICITY, ETHNICITIES)


def sex_group(value) -> str | None:
    """``Female``/``Male``/``Not recorded`` from a DfE code or a word; ``None`` if unknown."""
    from store.vocabulary import SEXES

    return _group(value, _SEX, SEXES)


def disability_group(value) -> str | None:
    """``Yes``/``No``/``Not recorded`` from DfE disability codes (several allowed) or a word."""
    from store.vocabulary import DISABILITIES

    if value is None or value != value:
        return None
    text = str(value).strip()
    if text in DISABILITIES:
        return text
    if text.upper() in _DISABILITY_WORDS:
        return _DISABILITY_WORDS[text.upper()]
    codes = [c for c in re.split(r"[\s,;|]+", text.upper()) if c]
    groups = {DFE_DISABILITY.get(c) for c in codes}
    if not codes or None in groups:
        return None
    # Any disability code beside NONE means a disability is recorded.
    return "Yes" if "Yes" in groups else "No"


GROUPERS = {"sex": sex_group, "ethnicity": ethnicity_group, "disability": disability_group}
HINTS = {
    "sex": "DfE codes 1/2/0/9, M/F/U, or Female/Male/Not recorded",
    "ethnicity": "DfE codes such as WBRI or REFU, ONS 2021 categories, or ONS groups",
    "disability": "DfE codes such as NONE or LD, or Yes/No/Not recorded",
}
