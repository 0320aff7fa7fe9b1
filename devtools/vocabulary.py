"""What seeded members are made of: names, places, jobs, habits and the weighted tables they are drawn from.

A weighted choice is a lookup in a table where each value is repeated by its weight:
`table[int(random() * len(table))]` is several times cheaper per row than `random.choices`.

English names come from Faker's en_US tables (given names by gender and surnames, with their frequencies);
Faker has Korean names only in Hangul, so the romanised Korean ones, most members' names, are listed here.
Faker's own generators (`Faker().name_male()`) cost 90 to 150 us a name here, more than the rest of a member's
rows together: the names are drawn from its tables once per seed run instead, into a pool that rows pick from.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Final, TypeVar

from faker.providers.person.en_US import Provider as EnglishNames

_T = TypeVar("_T")


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


def _table(weights: Sequence[tuple[_T, int]]) -> tuple[_T, ...]:
    return tuple(value for value, weight in weights for _ in range(weight))


GENDERS: Final = ("male", "female")

KOREAN_SURNAMES: Final = _words(
    "Kim Kim Kim Lee Lee Lee Park Park Choi Jung Kang Cho Yoon Jang Lim Han Oh Seo Shin Kwon Hwang Ahn "
    "Song Jeon Hong Yoo Ko Moon Yang Son Bae Baek Heo Nam Noh"
)
KOREAN_GIVEN: Final = {
    "male": _words(
        "Minjun Seojun Doyun Yejun Siwoo Hajun Jiho Juwon Jihoon Hyunwoo Junseo Woojin Dohyun Seungmin "
        "Taeyang Sungmin Jaehyun Donghyun Minho Jinwoo Youngho Sanghoon Kyungsoo Jongin Taehyun Joonho Wonjae "
        "Hyunsoo"
    ),
    "female": _words(
        "Seoyeon Seoyun Jiwoo Seohyun Minseo Haeun Hayoon Jiyu Yuna Chaewon Jimin Subin Yerin Soyeon Minji "
        "Eunji Hyejin Jiyeon Sujin Yujin Dahye Nayeon Jieun Seulgi Hyeri Soojin Eunbi Areum"
    ),
}

# Faker's en_US tables: name -> relative frequency.
ENGLISH_GIVEN: Final[Mapping[str, Mapping[str, float]]] = {
    "male": EnglishNames.first_names_male,
    "female": EnglishNames.first_names_female,
}
ENGLISH_SURNAMES: Final[Mapping[str, float]] = EnglishNames.last_names

NAME_POOL_SIZE: Final = 20_000
"""Full names drawn per gender and seed run; members pick from them by a table lookup."""

_KOREAN_SHARE: Final = 0.80
_ENGLISH_SHARE: Final = 0.15  # the rest (5%): an English given name with a Korean surname ("Grace Kim")


def name_pool(rng: random.Random, gender: str) -> tuple[str, ...]:
    """NAME_POOL_SIZE full names for `gender`: 80% Korean (romanised), 15% English, 5% mixed, in random order."""
    n_korean = round(NAME_POOL_SIZE * _KOREAN_SHARE)
    n_english = round(NAME_POOL_SIZE * _ENGLISH_SHARE)
    n_mixed = NAME_POOL_SIZE - n_korean - n_english
    given_korean = KOREAN_GIVEN[gender]
    english_given = list(ENGLISH_GIVEN[gender])
    english_weights = list(ENGLISH_GIVEN[gender].values())
    surnames = list(ENGLISH_SURNAMES)
    surname_weights = list(ENGLISH_SURNAMES.values())
    names = [f"{rng.choice(KOREAN_SURNAMES)} {rng.choice(given_korean)}" for _ in range(n_korean)]
    names += [
        f"{given} {surname}"
        for given, surname in zip(
            rng.choices(english_given, english_weights, k=n_english),
            rng.choices(surnames, surname_weights, k=n_english),
            strict=True,
        )
    ]
    names += [
        f"{given} {rng.choice(KOREAN_SURNAMES)}" for given in rng.choices(english_given, english_weights, k=n_mixed)
    ]
    rng.shuffle(names)
    return tuple(names)


REGIONS: Final = _table(
    [
        ("Seoul Gangnam-gu", 9),
        ("Seoul Seocho-gu", 6),
        ("Seoul Songpa-gu", 6),
        ("Seoul Mapo-gu", 6),
        ("Seoul Yongsan-gu", 4),
        ("Seoul Jongno-gu", 3),
        ("Seoul Seongdong-gu", 4),
        ("Seoul Gwanak-gu", 4),
        ("Gyeonggi Seongnam", 5),
        ("Gyeonggi Suwon", 5),
        ("Gyeonggi Goyang", 4),
        ("Gyeonggi Yongin", 4),
        ("Incheon", 6),
        ("Busan", 8),
        ("Daegu", 5),
        ("Daejeon", 4),
        ("Gwangju", 3),
        ("Ulsan", 2),
        ("Sejong", 1),
        ("Jeju", 2),
        ("Gangwon Chuncheon", 1),
        ("Chungbuk Cheongju", 2),
        ("Jeonbuk Jeonju", 2),
        ("Gyeongnam Changwon", 2),
    ]
)
REGION_NAMES: Final = tuple(dict.fromkeys(REGIONS))
EDUCATION: Final = _table(
    [
        ("High school", 12),
        ("Associate degree", 14),
        ("Bachelor's degree", 52),
        ("Master's degree", 16),
        ("Doctorate", 4),
        (None, 2),
    ]
)
JOBS: Final = _table(
    [
        ("Software engineer", 8),
        ("Designer", 5),
        ("Teacher", 6),
        ("Nurse", 5),
        ("Doctor", 2),
        ("Pharmacist", 2),
        ("Accountant", 4),
        ("Lawyer", 1),
        ("Civil servant", 7),
        ("Marketing manager", 4),
        ("Sales representative", 5),
        ("Researcher", 3),
        ("Architect", 2),
        ("Chef", 2),
        ("Entrepreneur", 3),
        ("Financial analyst", 3),
        ("Product manager", 3),
        ("Data scientist", 2),
        ("Flight attendant", 2),
        ("Photographer", 1),
        ("Graduate student", 4),
        ("Consultant", 2),
        ("Mechanical engineer", 4),
        ("Police officer", 1),
        ("Office worker", 10),
        (None, 3),
    ]
)
LIKES: Final = (
    "hiking",
    "good coffee",
    "jazz",
    "baking",
    "running along the Han river",
    "board games",
    "travel",
    "film photography",
    "old movies",
    "reading",
    "yoga",
    "camping",
    "cooking for friends",
    "cycling",
    "K-dramas",
    "live music",
    "museums",
    "tennis",
    "swimming",
    "wine bars",
    "my dog",
    "weekend markets",
)
BIO_TEMPLATES: Final = (
    "Into {a} and {b}.",
    "Weekends are for {a} and {b}.",
    "Looking for someone who enjoys {a} as much as I do.",
    "{A}, {b}, and long walks.",
    "Ask me about {a}.",
    "Happiest with {a} and {b}. Let's talk!",
    "Work hard, then {a}.",
    "New to the app. I like {a}, {b} and honest people.",
)
BIOS: Final = (
    tuple(
        template.format(a=a, b=b, A=a[0].upper() + a[1:])
        for template in BIO_TEMPLATES
        for a in LIKES
        for b in LIKES
        if a != b
    )
    + (None,) * 400
)  # ~5% without a bio

SMOKING: Final = _table([("never", 70), ("quit", 8), ("sometimes", 12), ("regularly", 7), (None, 3)])
DRINKING: Final = _table([("never", 14), ("rarely", 20), ("socially", 48), ("often", 15), (None, 3)])
RELIGION: Final = _table([("none", 50), ("christian", 19), ("catholic", 9), ("buddhist", 14), ("other", 3), (None, 5)])
EXERCISE: Final = _table([("never", 10), ("sometimes", 38), ("regularly", 34), ("daily", 14), (None, 4)])

STATUS_OLDER: Final = _table([("active", 62), ("pending", 17), ("rejected", 10), ("suspended", 11)])
STATUS_RECENT: Final = _table([("active", 28), ("pending", 65), ("rejected", 5), ("suspended", 2)])

# Photo status depends on the member's status: a pending member's photos await review.
PHOTO_STATUS: Final = {
    "active": _table([("approved", 93), ("pending", 5), ("rejected", 2)]),
    "pending": _table([("approved", 20), ("pending", 75), ("rejected", 5)]),
    "rejected": _table([("approved", 40), ("pending", 10), ("rejected", 50)]),
    "suspended": _table([("approved", 80), ("pending", 5), ("rejected", 15)]),
}
DOCUMENT_STATUS: Final = _table([("verified", 75), ("pending", 20), ("rejected", 5)])
DOCUMENT_SETS: Final = _table(
    [
        (("identity",), 40),
        (("employment",), 12),
        (("education",), 10),
        (("income",), 5),
        (("identity", "employment"), 15),
        (("identity", "income"), 8),
        (("education", "employment"), 6),
        (("identity", "education", "income"), 4),
    ]
)

PLANS: Final = _table([("free", 40), ("plus", 35), ("premium", 25)])
PAID_STATUS: Final = _table([("active", 55), ("cancelled", 20), ("expired", 25)])
FREE_STATUS: Final = _table([("active", 85), ("cancelled", 15)])
PERIODS: Final = _table([(30 * 86_400.0, 8), (365 * 86_400.0, 2)])

_MIN_BIRTH_YEAR: Final = 1960
_MAX_BIRTH_YEAR: Final = 2006

# Birth years 1960-2006, most members between their mid-twenties and early forties.
BIRTH_YEARS: Final = _table(
    [
        (year, max(1, round(40 * math.exp(-(((year - 1993) / 7.5) ** 2) / 2))))
        for year in range(_MIN_BIRTH_YEAR, _MAX_BIRTH_YEAR + 1)
    ]
)


HEIGHT_SAMPLES: Final = 2_000


def draw_heights(rng: random.Random, mean: float, sd: float) -> tuple[int, ...]:
    return tuple(min(210, max(140, round(rng.gauss(mean, sd)))) for _ in range(HEIGHT_SAMPLES))


def draw_region_sets(rng: random.Random) -> tuple[list[str], ...]:
    # Shared list objects are fine: asyncpg only reads them while encoding.
    sets: list[list[str]] = []
    for _ in range(1_000):
        home = REGIONS[int(rng.random() * len(REGIONS))]
        more = rng.sample(REGION_NAMES, k=int(rng.random() * 3))
        sets.append(list(dict.fromkeys([home, *more])))
    return tuple(sets)
