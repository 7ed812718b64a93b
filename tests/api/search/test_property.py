"""Property: the search engine returns exactly the resources the spec's oracle (oracle.py) finds.

Hypothesis draws a few Patients (Swedish and accented names, some stored decomposed; birth dates
of every precision; `active` true, false or absent) and CarePlans (any status, a subject among
those Patients, a period open at either end, as dates or dateTimes with zones), then a few
searches over them: string prefixes, `:exact`, `:contains`; date prefixes with values at, next
to and just off the stored ones; tokens with `:not`; `:missing`; references; a chain; AND of two
parameters; each with a random `_count` and `_sort`, following `next` links to the last page.

Each example's resources carry their own `meta.tag` and every search names it, so examples
sharing the test's database never see each other's data. Examples run on one event loop (an
`asyncio.Runner`) against one app, so the engine's pooled connections stay on their loop; the
`@given` function lives inside the test, so Hypothesis never reuses a function-scoped fixture.

PK_PROPERTY_EXAMPLES=1000 runs more examples than CI's default, to soak a change.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import unicodedata
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import hypothesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from patientkontrakt.app import create_app
from patientkontrakt.config import Settings
from tests.api.builders import FHIR_JSON
from tests.api.search import oracle
from tests.conftest import SYSTEM_SCOPE, Tokens

BASE = "http://test/fhir"
TAG_SYSTEM = "urn:patientkontrakt:test:property"

FAMILIES = (
    "Åberg",
    "Aberg",
    "Öst",
    "Ost",
    "Ängström",
    "Angstrom",
    "Lindén",
    "Linden",
    "Björk",
    "Bjørn",
    "Ærlig",
    "Müller",
    "Eklöf",
)
GIVENS = ("Åsa", "Asa", "Éva", "Eva", "Örjan", "Märta", "Marta", "Zoë", "Zoe", "Hélène", "Helene")
# Given names are also stored decomposed (a + combining ring), as some keyboards send them.
STORED_GIVENS = GIVENS + tuple(unicodedata.normalize("NFD", g) for g in ("Åsa", "Örjan", "Zoë"))
WORDS = FAMILIES + GIVENS
STATUSES = ("draft", "active", "on-hold", "revoked", "completed", "entered-in-error", "unknown")
PREFIXES = ("eq", "ne", "gt", "lt", "ge", "le", "sa", "eb")
# Around the Swedish DST changes (2020-03-29, 2020-10-25, 2021-03-28, 2021-10-31) and year ends.
YEARS = (2020, 2021)
MONTHS = (1, 3, 10, 12)
DAYS = (1, 25, 28, 29, 31)
HOURS = (0, 1, 12, 22, 23)  # never 02, so no local time falls into a DST gap or overlap
ZONES = ("Z", "+01:00", "+02:00", "-05:00")
SORTS = {
    "Patient": (None, "_id", "-_lastUpdated", "birthdate", "-birthdate", "name", "-family"),
    "CarePlan": (None, "-_id", "date", "-date", "status", "status,-date"),
}


# --- resources -----------------------------------------------------------------------------


# Letters the Swedish rule tells apart (å/a, ä/a, ö/o) or treats as one (æ/ä, ø/ö, é/e, ë/e).
LOOKALIKES = {
    "å": "a",
    "a": "åä",
    "ä": "aæ",
    "æ": "ä",
    "ö": "oø",
    "ø": "ö",
    "o": "ö",
    "é": "e",
    "e": "éë",
    "ë": "e",
}


@st.composite
def spellings(draw: st.DrawFn, text: str) -> str:
    """The text as a user might type it: other case, decomposed, or with look-alike letters."""
    if draw(st.booleans()):
        swapped = []
        for ch in text:
            options = LOOKALIKES.get(ch.lower(), "")
            if options and draw(st.booleans()):
                other = draw(st.sampled_from(options))
                ch = other.upper() if ch.isupper() else other
            swapped.append(ch)
        text = "".join(swapped)
    return draw(
        st.sampled_from([text, text.lower(), text.upper(), unicodedata.normalize("NFD", text)])
    )


@st.composite
def dates(draw: st.DrawFn, *, times: bool, search: bool = False) -> str:
    """A date at year, month or day precision, or (with `times`) a dateTime.

    A resource's dateTime has seconds and a zone (datatypes.html#dateTime); a search value may
    stop at minutes and leave out the zone (search.html#date).
    """
    year, month = draw(st.sampled_from(YEARS)), draw(st.sampled_from(MONTHS))
    day = draw(st.sampled_from(DAYS))
    precisions = ["year", "month", "day"]
    if times:
        precisions += ["minute", "second"] if search else ["second"]
    precision = draw(st.sampled_from(precisions))
    if precision == "year":
        return f"{year}"
    if precision == "month":
        return f"{year}-{month:02}"
    if precision == "day":
        return f"{year}-{month:02}-{day:02}"
    time = f"{draw(st.sampled_from(HOURS)):02}:{draw(st.sampled_from((0, 30))):02}"
    if precision == "second":
        time += f":{draw(st.sampled_from((0, 59))):02}"
    zones = (*ZONES, "") if search else ZONES
    return f"{year}-{month:02}-{day:02}T{time}{draw(st.sampled_from(zones))}"


@st.composite
def human_names(draw: st.DrawFn) -> dict[str, Any]:
    family = draw(st.none() | st.sampled_from(FAMILIES))
    given = draw(st.lists(st.sampled_from(STORED_GIVENS), min_size=0 if family else 1, max_size=2))
    name: dict[str, Any] = {}
    if family:
        name["family"] = family
    if given:
        name["given"] = given
    if draw(st.booleans()):  # the whole name as written, which `name` also searches
        name["text"] = " ".join([*given, *([family] if family else [])])
    return name


@st.composite
def patients(draw: st.DrawFn) -> dict[str, Any]:
    patient: dict[str, Any] = {"resourceType": "Patient"}
    names = draw(st.lists(human_names(), max_size=2))
    if names:
        patient["name"] = names
    birth_date = draw(st.none() | dates(times=False))
    if birth_date:
        patient["birthDate"] = birth_date
    active = draw(st.none() | st.booleans())
    if active is not None:
        patient["active"] = active
    return patient


@st.composite
def periods(draw: st.DrawFn) -> dict[str, str]:
    start, end = draw(st.none() | dates(times=True)), draw(st.none() | dates(times=True))
    if start is None and end is None:
        start = draw(dates(times=True))
    if start and end and oracle.interval(end)[0] < oracle.interval(start)[0]:
        start, end = end, start  # per-1: a period's start is not after its end
    return {k: v for k, v in (("start", start), ("end", end)) if v}


@st.composite
def care_plans(draw: st.DrawFn, patient_count: int) -> dict[str, Any]:
    plan: dict[str, Any] = {
        "resourceType": "CarePlan",
        "status": draw(st.sampled_from(STATUSES)),
        "intent": "plan",
        # A placeholder: the Patient's id is only known once the server has assigned it.
        "subject": {"reference": f"Patient/{{p{draw(st.integers(0, patient_count - 1))}}}"},
    }
    period = draw(st.none() | periods())
    if period:
        plan["period"] = period
    return plan


# --- searches ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    """What an example's resources hold, so searches hit as often as they miss."""

    words: tuple[str, ...]  # family and given names
    families: tuple[str, ...]
    birth_dates: tuple[str, ...]
    period_dates: tuple[str, ...]
    patient_count: int


def known_or_any(known: tuple[str, ...], every: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.sampled_from(known) | st.sampled_from(every) if known else st.sampled_from(every)


@st.composite
def name_prefixes(draw: st.DrawFn, words: tuple[str, ...]) -> str:
    word = draw(known_or_any(words, WORDS))
    return draw(spellings(word[: draw(st.integers(1, len(word)))]))


@st.composite
def fragments(draw: st.DrawFn, families: tuple[str, ...]) -> str:
    word = draw(known_or_any(families, FAMILIES))
    start = draw(st.integers(0, len(word) - 1))
    end = draw(st.integers(start + 1, len(word)))
    return draw(spellings(word[start:end]))


ZONE_SUFFIXES: tuple[tuple[dt.tzinfo, str], ...] = (
    (dt.UTC, "Z"),
    (dt.timezone(dt.timedelta(hours=1)), "+01:00"),
    (dt.timezone(dt.timedelta(hours=2)), "+02:00"),
    (dt.timezone(dt.timedelta(hours=-5)), "-05:00"),
    (oracle.STOCKHOLM, ""),
)


EDGE_SHIFTS = tuple(dt.timedelta(seconds=s) for s in (0, -1, -30 * 60, 30 * 60, -90 * 60, 90 * 60))


@st.composite
def edges(draw: st.DrawFn, known: tuple[str, ...]) -> str:
    """A second at, or near, either end of a stored value, written in some zone.

    Just before (`sa`/`eb` meet their target there) or up to 90 minutes off, between where a
    Swedish and a UTC day would begin.
    """
    low, high = oracle.interval(draw(st.sampled_from(known)))
    moment = draw(st.sampled_from((low, high))) + draw(st.sampled_from(EDGE_SHIFTS))
    zone, suffix = draw(st.sampled_from(ZONE_SUFFIXES))
    local = moment.astimezone(zone)
    if not suffix and local.hour == 2:
        suffix = "Z"  # 02:xx Swedish time may not exist or exist twice (DST)
        local = moment.astimezone(dt.UTC)
    return local.strftime("%Y-%m-%dT%H:%M:%S") + suffix


@st.composite
def neighbours(draw: st.DrawFn, known: tuple[str, ...]) -> str:
    """The year, month or day just before or after a stored value's (where `sa`/`eb` meet)."""
    value = draw(st.sampled_from(known))
    step = draw(st.sampled_from((-1, 1)))
    precisions = ("year", "month", "day")[: 1 + (len(value) >= 7) + (len(value) >= 10)]
    precision = draw(st.sampled_from(precisions))
    if precision == "year":
        return f"{int(value[:4]) + step}"
    if precision == "month":
        months = int(value[:4]) * 12 + int(value[5:7]) - 1 + step
        return f"{months // 12}-{months % 12 + 1:02}"
    return (dt.date.fromisoformat(value[:10]) + dt.timedelta(days=step)).isoformat()


@st.composite
def date_value(draw: st.DrawFn, known: tuple[str, ...]) -> str:
    """A date search value without its prefix: stored, next to stored, near an end, or any."""
    source = draw(st.sampled_from(("stored", "next", "edge", "edge", "any") if known else ("any",)))
    if source == "stored":  # as is or cut to year, month, day
        value = draw(st.sampled_from(known))
        return value[: draw(st.sampled_from((4, 7, 10, len(value))))]
    if source == "next":
        return draw(neighbours(known))
    if source == "edge":
        return draw(edges(known))
    return draw(dates(times=True, search=True))


@st.composite
def date_values(draw: st.DrawFn, known: tuple[str, ...]) -> str:
    """One or two (ORed) date search values, each with a prefix or none."""
    count = draw(st.integers(1, 2))
    values = [
        draw(st.sampled_from(("", *PREFIXES))) + draw(date_value(known)) for _ in range(count)
    ]
    return ",".join(values)


def patient_criteria(seen: Seen) -> st.SearchStrategy[tuple[str, str]]:
    booleans = st.sampled_from(("true", "false"))
    exact = known_or_any(seen.families, FAMILIES).flatmap(
        lambda f: st.sampled_from([f, f.lower(), f.upper()])
    )
    return st.one_of(
        st.tuples(st.just("name"), name_prefixes(seen.words)),
        st.tuples(st.just("family"), name_prefixes(seen.families)),
        st.tuples(st.just("family:exact"), exact),
        st.tuples(st.just("family:contains"), fragments(seen.families)),
        # Twice: date prefixes have the most edges to get wrong.
        st.tuples(st.just("birthdate"), date_values(seen.birth_dates)),
        st.tuples(st.just("birthdate"), date_values(seen.birth_dates)),
        st.tuples(st.sampled_from(("active", "active:not", "active:missing")), booleans),
        st.tuples(
            st.sampled_from(("name:missing", "family:missing", "birthdate:missing")), booleans
        ),
    )


def care_plan_criteria(seen: Seen) -> st.SearchStrategy[tuple[str, str]]:
    booleans = st.sampled_from(("true", "false"))
    statuses = st.lists(st.sampled_from(STATUSES), min_size=1, max_size=3, unique=True)
    index = st.integers(0, seen.patient_count - 1)
    return st.one_of(
        st.tuples(st.just("status"), statuses.map(",".join)),
        st.tuples(st.just("status:not"), st.sampled_from(STATUSES)),
        st.tuples(st.just("subject"), index.map(lambda i: f"Patient/{{p{i}}}")),
        st.tuples(st.just("subject:Patient"), index.map(lambda i: f"{{p{i}}}")),
        st.tuples(st.sampled_from(("date:missing", "subject:missing")), booleans),
        st.tuples(st.just("date"), date_values(seen.period_dates)),
        st.tuples(st.just("date"), date_values(seen.period_dates)),
        st.tuples(
            st.sampled_from(("subject:Patient.name", "subject.name")), name_prefixes(seen.words)
        ),
    )


@dataclass(frozen=True)
class Search:
    resource_type: str
    criteria: list[tuple[str, str]]  # values may hold `{p0}`-style Patient id placeholders
    count: int
    sort: str | None


@st.composite
def searches(draw: st.DrawFn, seen: Seen) -> Search:
    resource_type = draw(st.sampled_from(("Patient", "CarePlan")))
    criteria = patient_criteria(seen) if resource_type == "Patient" else care_plan_criteria(seen)
    return Search(
        resource_type,
        draw(st.lists(criteria, min_size=1, max_size=2)),  # two parameters AND
        draw(st.sampled_from((1, 2, 3, 100))),
        draw(st.sampled_from(SORTS[resource_type])),
    )


@dataclass(frozen=True)
class Example:
    patients: list[dict[str, Any]]
    care_plans: list[dict[str, Any]]
    searches: list[Search]


@st.composite
def examples(draw: st.DrawFn) -> Example:
    found = draw(st.lists(patients(), min_size=1, max_size=4))
    plans = draw(st.lists(care_plans(len(found)), max_size=6))
    names = [n for p in found for n in p.get("name", [])]
    seen = Seen(
        words=tuple(
            sorted({w for n in names for w in [n.get("family", ""), *n.get("given", [])] if w})
        ),
        families=tuple(sorted({n["family"] for n in names if "family" in n})),
        birth_dates=tuple(sorted({p["birthDate"] for p in found if "birthDate" in p})),
        period_dates=tuple(sorted({d for c in plans for d in c.get("period", {}).values()})),
        patient_count=len(found),
    )
    found_searches = draw(st.lists(searches(seen), min_size=4, max_size=16))
    # A date value under every prefix: the boundaries between prefixes are where bugs hide.
    for _ in range(draw(st.integers(0, 2))):
        if draw(st.booleans()):
            code, value = "birthdate", draw(date_value(seen.birth_dates))
            resource_type = "Patient"
        else:
            code, value = "date", draw(date_value(seen.period_dates))
            resource_type = "CarePlan"
        found_searches += [Search(resource_type, [(code, p + value)], 100, None) for p in PREFIXES]
    return Example(found, plans, found_searches)


# --- running an example against the server -------------------------------------------------


async def create_all(client: httpx.AsyncClient, example: Example, tag: str) -> oracle.Store:
    """Every resource of the example in one transaction; the store the oracle searches."""
    meta = {"tag": [{"system": TAG_SYSTEM, "code": tag}]}
    placeholders = {f"p{i}": f"urn:uuid:{uuid.uuid4()}" for i in range(len(example.patients))}
    bodies = [{**p, "meta": meta} for p in example.patients]
    for plan in example.care_plans:
        subject = plan["subject"]["reference"].removeprefix("Patient/").format(**placeholders)
        bodies.append({**plan, "meta": meta, "subject": {"reference": subject}})
    full_urls = [*placeholders.values(), *(f"urn:uuid:{uuid.uuid4()}" for _ in example.care_plans)]
    transaction = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": url,
                "resource": body,
                "request": {"method": "POST", "url": body["resourceType"]},
            }
            for url, body in zip(full_urls, bodies, strict=True)
        ],
    }
    response = await client.post(
        "", content=json.dumps(transaction, ensure_ascii=False).encode(), headers=FHIR_JSON
    )
    assert response.status_code == 200, response.text
    locations = [e["response"]["location"] for e in response.json()["entry"]]
    keys = ["/".join(location.split("/")[-4:-2]) for location in locations]
    assigned = dict(zip(full_urls, keys, strict=True))
    store: oracle.Store = {}
    for key, body in zip(keys, bodies, strict=True):
        if "subject" in body:
            body["subject"] = {"reference": assigned[body["subject"]["reference"]]}
        store[key] = {**body, "id": key.partition("/")[2]}
    return store


async def matched_keys(
    client: httpx.AsyncClient, resource_type: str, pairs: list[tuple[str, str]]
) -> list[str]:
    """`Type/id` of every match on every page, following `next` links."""
    keys: list[str] = []
    response = await client.get(f"/{resource_type}", params=pairs)
    for _ in range(50):
        assert response.status_code == 200, response.text
        page = response.json()
        for entry in page.get("entry", []):
            assert entry["search"]["mode"] == "match", entry
            keys.append(f"{resource_type}/{entry['resource']['id']}")
        following = [link["url"] for link in page.get("link", []) if link["relation"] == "next"]
        if not following:
            return keys
        response = await client.get(following[0])
    raise AssertionError(f"more than 50 pages for {pairs}")


def describe(store: oracle.Store) -> str:
    return "\n".join(f"  {key}: {json.dumps(r, ensure_ascii=False)}" for key, r in store.items())


async def run_example(app: FastAPI, example: Example, headers: dict[str, str]) -> None:
    tag = uuid.uuid4().hex
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=headers) as client:
        store = await create_all(client, example, tag)
        patient_ids = [r["id"] for r in store.values() if r["resourceType"] == "Patient"]
        refs = {f"p{i}": patient_id for i, patient_id in enumerate(patient_ids)}
        for search in example.searches:
            pairs = [(name, value.format(**refs)) for name, value in search.criteria]
            pairs += [("_tag", f"{TAG_SYSTEM}|{tag}"), ("_count", str(search.count))]
            if search.sort:
                pairs.append(("_sort", search.sort))
            got = await matched_keys(client, search.resource_type, pairs)
            expected = oracle.search(search.resource_type, pairs, store)
            assert len(got) == len(set(got)), f"{pairs}: a resource on two pages: {got}"
            assert set(got) == expected, (
                f"{search.resource_type}?{pairs}\n"
                f"server only: {sorted(set(got) - expected)}\n"
                f"oracle only: {sorted(expected - set(got))}\n"
                f"resources:\n{describe(store)}"
            )


def test_search_agrees_with_the_oracle(settings: Settings, tokens: Tokens) -> None:
    """Every drawn search finds the oracle's resources, no more, no fewer, none twice."""
    app = create_app(settings)
    headers = tokens.headers(SYSTEM_SCOPE)
    with asyncio.Runner() as runner:
        try:

            @hypothesis.settings(
                max_examples=int(os.environ.get("PK_PROPERTY_EXAMPLES", "60")),
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
            )
            @given(example=examples())
            def check(example: Example) -> None:
                runner.run(run_example(app, example, headers))

            check()
        finally:
            runner.run(app.state.server.store.dispose())


def test_oracle_reads_dates_in_stockholm() -> None:
    """The oracle's own footing: a Swedish day in summer starts at 22:00 UTC the day before."""
    assert oracle.interval("2021-07-01") == (
        dt.datetime(2021, 6, 30, 22, tzinfo=dt.UTC),
        dt.datetime(2021, 7, 1, 22, tzinfo=dt.UTC),
    )
    assert oracle.fold("ÅSA") != oracle.fold("Asa")
    assert oracle.fold("Bjørn") == oracle.fold("BJÖRN")
    assert oracle.fold("Hélène") == oracle.fold("helene")
    assert oracle.fold(unicodedata.normalize("NFD", "Åsa")) == oracle.fold("åsa")
