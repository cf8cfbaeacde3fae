"""Dates typed as day, month and year boxes (UK order in every browser), read and shown again."""

from __future__ import annotations

from datetime import date, datetime

import pytest

import records
from serving.page.dates import DateError, date_from_parts, date_parts, parts_of
from tests.serving import test_page
from tests.serving.test_page import FLAGGED, browser

app, tokens = test_page.app, test_page.tokens


def _boxes(name: str, day="", month="", year="", time=None) -> dict[str, list[str]]:
    out = {f"{name}_day": [day], f"{name}_month": [month], f"{name}_year": [year]}
    if time is not None:
        out[f"{name}_time"] = [time]
    return out


@pytest.mark.parametrize(
    ("boxes", "expected"),
    [
        (("1", "10", "2026", "10:00"), "2026-10-01T10:00"),
        (("01", "10", "2026", "9.05"), "2026-10-01T09:05"),
        (("31", "12", "2025", "2359"), "2025-12-31T23:59"),
        (("1", "10", "2026", "10:00:27"), "2026-10-01T10:00:27"),
    ],
)
def test_boxes_make_the_day_they_say(boxes, expected):
    day, month, year, time = boxes
    got = date_from_parts(_boxes("r", day, month, year, time), "r", "Received at", with_time=True)
    assert got == expected
    # The reference: the day box is the day, whatever the browser's language.
    assert datetime.fromisoformat(got).day == int(day)
    assert datetime.fromisoformat(got).month == int(month)


@pytest.mark.parametrize(
    ("boxes", "words"),
    [
        (("", "10", "2026", "10:00"), "give the day as well"),
        (("1", "", "", "10:00"), "give the month and the year as well"),
        (("x", "10", "2026", "10:00"), "as numbers"),
        (("1", "10", "26", "10:00"), "the year in full"),
        (("31", "2", "2026", "10:00"), "there is no 31 February 2026"),
        (("1", "13", "2026", "10:00"), "there is no 1 month 13 2026"),
        (("1", "10", "2026", ""), "give the time as well"),
        (("1", "10", "2026", "10am"), "24-hour clock"),
        (("1", "10", "2026", "24:00"), "24-hour clock"),
    ],
)
def test_boxes_that_make_no_date_are_refused_naming_the_field(boxes, words):
    with pytest.raises(DateError) as err:
        date_from_parts(_boxes("r", *boxes), "r", "Received at", with_time=True)
    assert str(err.value).startswith("Received at: ") and words in str(err.value)


def test_a_date_of_birth_has_no_time_and_empty_boxes_are_no_date():
    assert date_from_parts(_boxes("d", "23", "7", "1991"), "d", "DOB") == "1991-07-23"
    assert date_from_parts(_boxes("d"), "d", "DOB") is None
    # No boxes at all: the single ISO field, as an API client or an address sends it.
    assert date_from_parts({"d": ["1991-07-23"]}, "d", "DOB") == "1991-07-23"


def test_the_boxes_are_shown_again_as_typed_or_split_from_a_date():
    assert date_parts(_boxes("r", "31", "2", "2026", "10:00"), "r") == {
        "day": "31",
        "month": "2",
        "year": "2026",
        "time": "10:00",
    }
    assert date_parts({"r": ["2026-10-01T10:00"]}, "r") == {
        "day": "1",
        "month": "10",
        "year": "2026",
        "time": "10:00",
    }
    assert parts_of(date(1991, 7, 23)) == {"day": "23", "month": "7", "year": "1991", "time": ""}
    assert parts_of(datetime(2026, 10, 1, 10, 0, 27))["time"] == "10:00:27"
    assert (
        parts_of("not a date")
        == parts_of(None)
        == {k: "" for k in ("day", "month", "year", "time")}
    )


def test_the_form_posted_with_boxes_scores_the_day_typed(app, tokens, store):
    client = browser(app, tokens["screener"])
    form = {k: v for k, v in FLAGGED.items() if k != "received_at"}
    typed = {
        **form,
        **_boxes("received_at", "1", "10", "2026", "10:00"),
        "named_adult_1_name": ["Jay Smith"],
        "named_adult_1_relationship": ["visitor"],
        **_boxes("named_adult_1_date_of_birth", "2", "3", "1990"),
    }
    shown = client.post("/page/referral", data=typed)
    assert shown.status_code == 200 and "01 Oct 2026 10:00" in shown.text
    [entry], _ = store.query(kind=records.kinds.REFERRAL)
    content = entry.payload
    assert content["received_at"].startswith("2026-10-01T10:00")
    assert content["named_adults"][0]["date_of_birth"] == "1990-03-02"
    refused = client.post(
        "/page/referral",
        data={**typed, **_boxes("named_adult_1_date_of_birth", "30", "2", "1990")},
    )
    assert refused.status_code == 422
    assert "Adult 1&#39;s date of birth: there is no 30 February 1990." in refused.text
    assert 'id="named_adult_1_date_of_birth-day" value="30"' in refused.text
