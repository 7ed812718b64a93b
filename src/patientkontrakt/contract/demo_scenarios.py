"""The care situations of the demo county's patients, as data.

Each scenario says who the patient is (age range), what he has (ICD-10-SE diagnoses), what he
and his care providers aim at (goals), and what the coordinated plan holds: visits to named
professions at named units (each becomes an agreed or proposed Appointment), efforts of the
municipality's social care, and what the patient does himself (self-care, health promotion).
Performers are written `patient`, `org:<unit>` or `role:<unit>:<profession>`, where the unit `gp`
is the patient's own health centre.
"""

from __future__ import annotations

from dataclasses import dataclass

ICD10SE = "https://www.icd10.se/"
LOINC = "http://loinc.org"
PHQ9_TOTAL = ("44261-6", "PHQ-9 total score")
GAD7_TOTAL = ("70274-6", "GAD-7 total score")

SELF_CARE = "Egenvård"
HEALTH_PROMOTION = "Hälsofrämjande"
PREVENTION = "Förebyggande"
SOCIAL_CARE = "Insats enligt socialtjänstlagen"


@dataclass(frozen=True)
class Step:
    """One activity of the plan. A `visit` step becomes an Appointment with its performer."""

    description: str
    performer: str
    visit: bool = False
    code: str | None = None
    per_week: float | None = None
    """How often a recurring effort happens (7 = daily, 14 = twice a day)."""
    when: str | None = None
    chance: float = 1.0
    instruction: str | None = None


@dataclass(frozen=True)
class Scenario:
    """A care situation: the plan type, the people it fits and the plan's steps."""

    key: str
    title: str
    plan_type: str
    born: tuple[int, int]
    weight: int
    conditions: tuple[tuple[str, str], ...]
    """ICD-10-SE (code, Swedish display); the first is always there, one more may be."""
    goal: str
    goal_measure: tuple[str, str] | None
    """A LOINC score the clinical goal targets: for mental ill-health, PHQ-9 or GAD-7 (the
    one that fits the main diagnosis is used)."""
    own_goals: tuple[str, ...]
    contacts: tuple[str, ...]
    """Professions that can be the fast vårdkontakt at the health centre."""
    steps: tuple[Step, ...]


PHQ_GOAL = "Minskade depressiva symtom: PHQ-9 under 10"
GAD_GOAL = "Minskad oro och ångest: GAD-7 under 10"

SCENARIOS = (
    Scenario(
        "psykisk-ohalsa",
        "Psykisk ohälsa, stegvis vård på vårdcentralen",
        "VP",
        (1960, 2004),
        35,
        (
            ("F32.1", "Medelsvår depressiv episod"),
            ("F41.1", "Generaliserat ångestsyndrom"),
            ("F32.0", "Lindrig depressiv episod"),
            ("F41.2", "Blandat ångest- och depressionstillstånd"),
            ("F43.2", "Anpassningsstörning"),
        ),
        PHQ_GOAL,
        PHQ9_TOTAL,
        (
            "Orka gå till jobbet igen",
            "Sova en hel natt utan att vakna",
            "Träffa mina vänner igen",
            "Orka vara med barnen på helgerna",
        ),
        ("psykolog", "kurator", "sjukskoterska"),
        (
            Step(
                "Uppföljning hos läkare: mående, läkemedel och sjukskrivning",
                "role:gp:lakare",
                True,
            ),
            Step("KBT hos psykolog, sex samtal", "role:gp:psykolog", True),
            Step("Stödsamtal hos kurator", "role:gp:kurator", True, chance=0.5),
            Step(
                "Fylla i PHQ-9 och GAD-7 i 1177 inför varje besök",
                "patient",
                code=SELF_CARE,
                when="Inför varje besök",
            ),
            Step(
                "Promenad 30 minuter fem dagar i veckan (fysisk aktivitet på recept)",
                "patient",
                code=HEALTH_PROMOTION,
                per_week=5,
            ),
            Step(
                "Regelbundna sovtider och sömndagbok",
                "patient",
                code=SELF_CARE,
                per_week=7,
                chance=0.6,
            ),
            Step("Telefonuppföljning med din fasta vårdkontakt", "role:gp:sjukskoterska", True),
        ),
    ),
    Scenario(
        "psykiatri",
        "Psykisk ohälsa med stöd från psykiatrin och socialtjänsten",
        "SIP",
        (1965, 2003),
        10,
        (
            ("F33.1", "Recidiverande depression, medelsvår episod"),
            ("F32.2", "Svår depressiv episod utan psykotiska symtom"),
            ("F41.1", "Generaliserat ångestsyndrom"),
        ),
        PHQ_GOAL,
        PHQ9_TOTAL,
        (
            "Ha en egen lägenhet och klara vardagen",
            "Komma tillbaka till studierna",
            "Ha något meningsfullt att göra varje vecka",
        ),
        ("sjukskoterska",),
        (
            Step("Läkarbesök på psykiatrin: läkemedelsuppföljning", "role:psykiatri:lakare", True),
            Step(
                "Samtal med din fasta vårdkontakt på psykiatrin",
                "role:psykiatri:sjukskoterska",
                True,
            ),
            Step(
                "Hälsokontroll på vårdcentralen: blodtryck, vikt och provtagning",
                "role:gp:lakare",
                True,
            ),
            Step(
                "SIP-möte med socialtjänsten, psykiatrin och vårdcentralen",
                "role:socialtjanst:bistandshandlaggare",
                True,
                instruction="Mötet hålls på socialtjänsten. Ta gärna med en närstående.",
            ),
            Step(
                "Boendestöd två gånger i veckan", "org:socialtjanst", code=SOCIAL_CARE, per_week=2
            ),
            Step(
                "Ta medicinen varje morgon och anteckna biverkningar",
                "patient",
                code=SELF_CARE,
                per_week=7,
            ),
            Step(
                "Delta i promenadgruppen på träffpunkten",
                "patient",
                code=HEALTH_PROMOTION,
                per_week=1,
            ),
        ),
    ),
    Scenario(
        "ungdom",
        "Oro och ångest hos ung person, med elevhälsan",
        "SIP",
        (2009, 2013),
        10,
        (
            ("F41.1", "Generaliserat ångestsyndrom"),
            ("F41.0", "Paniksyndrom"),
            ("F32.0", "Lindrig depressiv episod"),
        ),
        GAD_GOAL,
        GAD7_TOTAL,
        (
            "Gå till skolan varje dag",
            "Spela fotboll med laget igen",
            "Våga prata inför klassen",
        ),
        ("psykolog",),
        (
            Step("KBT hos psykolog på vårdcentralen", "role:gp:psykolog", True),
            Step("Samtal med skolkuratorn varannan vecka", "role:elevhalsa:kurator", True),
            Step("Hälsosamtal hos skolsköterskan", "role:elevhalsa:sjukskoterska", True),
            Step(
                "Andningsövningar när oron kommer, enligt övningsbladet",
                "patient",
                code=SELF_CARE,
                when="När oron kommer",
            ),
            Step(
                "Träna med fotbollslaget två gånger i veckan",
                "patient",
                code=HEALTH_PROMOTION,
                per_week=2,
            ),
            Step(
                "Läkarbesök tillsammans med vårdnadshavare",
                "role:gp:lakare",
                True,
                chance=0.6,
                instruction="Ta med en vårdnadshavare till besöket.",
            ),
        ),
    ),
    Scenario(
        "aldre",
        "Samordnad vård och omsorg för äldre med flera sjukdomar",
        "SIP",
        (1930, 1948),
        20,
        (
            ("I50.9", "Hjärtsvikt, ospecificerad"),
            ("E11.9", "Diabetes mellitus typ 2 utan komplikationer"),
            ("J44.9", "Kroniskt obstruktiv lungsjukdom, ospecificerad"),
            ("F32.0", "Lindrig depressiv episod"),
        ),
        "Inga oplanerade inläggningar på sjukhus det närmaste året",
        None,
        (
            "Kunna bo kvar hemma",
            "Gå till affären själv",
            "Kunna gå ut i trädgården varje dag",
        ),
        ("sjukskoterska",),
        (
            Step("Läkarbesök: läkemedelsgenomgång", "role:gp:lakare", True),
            Step(
                "Hembesök av distriktssköterskan: blodtryck och vikt",
                "role:gp:sjukskoterska",
                True,
                instruction="Sjuksköterskan kommer hem till dig. Ha dina läkemedel framme.",
            ),
            Step(
                "Återbesök på medicinmottagningen: uppföljning av hjärtsvikten",
                "role:medicin:lakare",
                True,
                chance=0.7,
            ),
            Step(
                "Uppföljning av hemtjänstbeslutet med biståndshandläggaren",
                "role:socialtjanst:bistandshandlaggare",
                True,
                instruction="Handläggaren kommer hem till dig. Ta fram beslutet om hemtjänst.",
            ),
            Step(
                "Hemtjänst: hjälp morgon och kväll, inköp och städning",
                "org:hemtjanst",
                code=SOCIAL_CARE,
                per_week=14,
            ),
            Step(
                "Balansträning för att förebygga fall",
                "role:gp:fysioterapeut",
                True,
                chance=0.6,
            ),
            Step(
                "Väga dig varje morgon; ring din fasta vårdkontakt om vikten ökar mer än "
                "2 kg på tre dagar",
                "patient",
                code=SELF_CARE,
                per_week=7,
            ),
            Step(
                "Influensavaccination under hösten",
                "role:gp:sjukskoterska",
                code=PREVENTION,
                when="Under hösten",
            ),
        ),
    ),
    Scenario(
        "diabetes",
        "Diabetes typ 2 på vårdcentralen",
        "VP",
        (1950, 1985),
        15,
        (
            ("E11.9", "Diabetes mellitus typ 2 utan komplikationer"),
            ("I10", "Essentiell hypertoni"),
        ),
        "HbA1c under 52 mmol/mol",
        None,
        ("Gå ner fem kilo till sommaren", "Orka cykla till jobbet", "Slippa insulin"),
        ("sjukskoterska",),
        (
            Step(
                "Diabetesmottagningen: HbA1c, blodtryck och fotundersökning",
                "role:gp:sjukskoterska",
                True,
            ),
            Step("Årskontroll hos läkare", "role:gp:lakare", True),
            Step(
                "Mäta blodsockret enligt schemat och föra dagbok",
                "patient",
                code=SELF_CARE,
                per_week=7,
            ),
            Step(
                "Promenad eller cykel 30 minuter om dagen",
                "patient",
                code=HEALTH_PROMOTION,
                per_week=7,
            ),
            Step(
                "Fysisk aktivitet på recept: uppstart hos fysioterapeut",
                "role:gp:fysioterapeut",
                True,
                chance=0.5,
            ),
        ),
    ),
    Scenario(
        "rehab",
        "Rehabilitering efter stroke",
        "RP",
        (1940, 1970),
        10,
        (("I63.9", "Cerebral infarkt, ospecificerad"), ("I10", "Essentiell hypertoni")),
        "Gå 500 meter utan hjälpmedel",
        None,
        ("Kunna köra bil igen", "Gå ut med hunden själv", "Klara hushållet själv"),
        ("sjukskoterska",),
        (
            Step("Återbesök på strokemottagningen", "role:medicin:lakare", True),
            Step("Gångträning hos fysioterapeut på sjukhuset", "role:medicin:fysioterapeut", True),
            Step(
                "Fortsatt träning hos fysioterapeut på vårdcentralen",
                "role:gp:fysioterapeut",
                True,
            ),
            Step("Blodtryckskontroll och läkemedelsgenomgång", "role:gp:lakare", True),
            Step(
                "Hemtjänst: stöd vid dusch och inköp under rehabiliteringen",
                "org:hemtjanst",
                code=SOCIAL_CARE,
                per_week=3,
                chance=0.5,
            ),
            Step(
                "Hemträningsprogram: balans- och styrkeövningar 20 minuter varje dag",
                "patient",
                code=SELF_CARE,
                per_week=7,
            ),
        ),
    ),
)
SCENARIOS_BY_KEY = {s.key: s for s in SCENARIOS}

# What the patient is asked to bring or do, by the profession he meets.
INSTRUCTIONS = {
    "lakare": "Ta med en lista över dina läkemedel. Kom gärna tio minuter före utsatt tid.",
    "sjukskoterska": "Ta med dina egna mätvärden. Kom fastande om du ska lämna blodprov.",
    "psykolog": "Fyll i formuläret i 1177 före besöket.",
    "kurator": "Du får gärna ta med en närstående.",
    "fysioterapeut": "Ha bekväma kläder och skor som du kan träna i.",
    "bistandshandlaggare": "Handläggaren ringer dig dagen före för att bekräfta tiden.",
}
VIDEO_INSTRUCTION = (
    "Videobesök: logga in i 1177 fem minuter före utsatt tid och sitt där du kan prata ostört."
)
MINUTES = {
    "lakare": 30,
    "sjukskoterska": 30,
    "psykolog": 45,
    "kurator": 45,
    "fysioterapeut": 45,
    "bistandshandlaggare": 60,
}
