"""People of the demo county: test personnummer, Swedish names, addresses and telephone numbers.

**The demo personnummer rule.** Patient 1 is always Tolvan Tolvansson, 19121212-1212, the
well-known Swedish test person. Every other demo patient gets

- a birth date drawn from the seed within the age range of the patient's care situation,
- a birth number (födelsenummer, digits 9 to 11) between 980 and 999 whose last digit is odd for
  a man and even for a woman, as in real numbers,
- the check digit: the Luhn (modulus 10, weights 2 and 1) digit over the last ten digits,

written with twelve digits, `YYYYMMDDNNNC`. A number already given to an earlier demo patient
moves to the next free birth number of the same sex on that date, then to the following day.
The numbers are checksum-correct and have real dates, so they pass every format check, but
nothing stops one of them from belonging to a real person: they are test data only, and every
resource carrying one is tagged HTEST.

Telephone numbers come from the series the Swedish Post and Telecom Authority (PTS) reserves for
fiction (070-174 06 05 to 070-174 06 99); e-mail addresses use the reserved `.example` domain.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

TOLVAN_PERSONNUMMER = "191212121212"
TOLVAN_BIRTH_DATE = dt.date(1912, 12, 12)
DEMO_BIRTH_NUMBERS = range(980, 1000)
"""Birth numbers (digits 9 to 11) of the demo personnummer other than Tolvan's."""


def luhn_digit(digits: str) -> int:
    """The Luhn check digit of `digits` (weights 2, 1, 2, ... from the left, as Skatteverket)."""
    total = 0
    for position, char in enumerate(digits):
        product = int(char) * (2 if position % 2 == 0 else 1)
        total += product // 10 + product % 10
    return (10 - total % 10) % 10


def personnummer(born: dt.date, birth_number: int) -> str:
    """The twelve-digit personnummer `YYYYMMDDNNNC` of a birth date and birth number."""
    body = f"{born:%y%m%d}{birth_number:03d}"
    return f"{born:%Y%m%d}{birth_number:03d}{luhn_digit(body)}"


def organisationsnummer(first_nine: str) -> str:
    """A ten-digit organisationsnummer: nine digits and their Luhn check digit."""
    return f"{first_nine}{luhn_digit(first_nine)}"


@dataclass
class PersonnummerRule:
    """Hands out demo personnummer by the rule in this module's docstring, never one twice."""

    used: set[str] = field(default_factory=lambda: {TOLVAN_PERSONNUMMER})

    def issue(self, born: dt.date, male: bool) -> tuple[str, dt.date]:
        """A new number for someone born on `born` (or, if that date is full, a day later)."""
        day = born
        while True:
            for birth_number in DEMO_BIRTH_NUMBERS:
                if birth_number % 2 != (1 if male else 0):
                    continue
                number = personnummer(day, birth_number)
                if number not in self.used:
                    self.used.add(number)
                    return number, day
            day += dt.timedelta(days=1)


def birth_date(rng: random.Random, first_year: int, last_year: int) -> dt.date:
    """A date between 1 January `first_year` and 31 December `last_year`."""
    start = dt.date(first_year, 1, 1)
    span = (dt.date(last_year, 12, 31) - start).days
    return start + dt.timedelta(days=rng.randint(0, span))


def _words(text: str, separator: str | None = None) -> list[str]:
    return text.split(separator)


# Common Swedish names by generation, so a patient's name fits his age.
GIVEN_NAMES = {
    ("male", "old"): _words(
        "Lars Karl Per Nils Bengt Sven Göran Lennart Bo Åke Rolf Stig Kjell "
        "Gunnar Ingemar Sten Olle Arne"
    ),
    ("female", "old"): _words(
        "Margareta Birgitta Kerstin Ingrid Gunilla Elisabeth Britt Ulla Inger "
        "Marianne Barbro Gun Siv Astrid Märta Ingegerd"
    ),
    ("male", "middle"): _words(
        "Anders Johan Mikael Peter Fredrik Daniel Magnus Jonas Andreas Stefan "
        "Martin Thomas Henrik Patrik Niklas Tobias"
    ),
    ("female", "middle"): _words(
        "Anna Maria Karin Sara Emma Jenny Linda Helena Sofia Camilla Åsa "
        "Malin Johanna Therese Petra Lena"
    ),
    ("male", "young"): _words(
        "Lucas William Elias Hugo Oscar Liam Noah Alexander Viktor Isak Axel "
        "Leo Ludvig Melvin Theo Albin"
    ),
    ("female", "young"): _words(
        "Alice Maja Elsa Ella Wilma Ebba Saga Alva Linnea Olivia Tilda Agnes Freja Stella Vera Nova"
    ),
}
FAMILY_NAMES = _words(
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
    "Pettersson Jonsson Jansson Hansson Bengtsson Jönsson Lindberg Jakobsson Magnusson "
    "Lindström Olofsson Lindqvist Lindgren Berg Axelsson Bergström Lundberg Lind Lundgren "
    "Mattsson Berglund Fredriksson Sandberg Henriksson Forsberg Sjöberg Wallin Engström Eklund "
    "Danielsson Håkansson Björk Bergman Holm Öberg Åberg Ström Nyström Söderberg Löfgren Ek "
    "Östlund"
)


def given_name(rng: random.Random, male: bool, born: dt.date) -> str:
    """A given name common among people of this sex born around `born`."""
    generation = "old" if born.year < 1960 else "middle" if born.year < 1995 else "young"
    return rng.choice(GIVEN_NAMES[("male" if male else "female", generation)])


def family_name(rng: random.Random) -> str:
    """A common Swedish family name (å, ä and ö included, to exercise name search)."""
    return rng.choice(FAMILY_NAMES)


@dataclass(frozen=True)
class Town:
    """A locality of the (fictional) county with its postal code series."""

    name: str
    postal_prefix: str


TOWNS = [
    Town("Sjövik", "871"),
    Town("Norrby", "872"),
    Town("Björkås", "873"),
    Town("Ekudden", "874"),
    Town("Lillå", "875"),
]
STREETS = _words(
    "Storgatan|Kyrkogatan|Skolgatan|Ringvägen|Björkvägen|Sjövägen|Strandvägen|Järnvägsgatan|"
    "Tallstigen|Ängsvägen|Lärkvägen|Åvägen|Östra Långgatan|Västra vägen|Hamngatan|Kvarngatan",
    "|",
)


def home_address(rng: random.Random, town: Town) -> dict[str, object]:
    """A home address in `town`."""
    return {
        "use": "home",
        "type": "physical",
        "line": [f"{rng.choice(STREETS)} {rng.randint(1, 60)}"],
        "postalCode": f"{town.postal_prefix} {rng.randint(30, 95)}",
        "city": town.name,
        "country": "SE",
    }


def phone(number: int) -> str:
    """A telephone number from PTS's series for fiction, chosen by `number`."""
    return f"070-174 06 {5 + number % 95:02d}"


_ASCII = str.maketrans({"å": "a", "ä": "a", "ö": "o", "é": "e", " ": "."})


def email(given: str, family: str, domain: str) -> str:
    """`given.family@domain` in plain ASCII letters."""
    return f"{given}.{family}".lower().translate(_ASCII) + f"@{domain}"
