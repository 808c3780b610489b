"""The analysis states: alphabet, labels and colours, defined once.

The order of ``ALPHABET`` is the order of TraMineR's ``seqdef(alphabet=...)`` in
``shared/data/traminer_reference`` and the integer code of each state in the
warehouse (``state_code`` columns) is its position in this tuple.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class State:
    code: str
    label: str
    label_da: str
    colour: str


STATES: tuple[State, ...] = (
    State("JOB", "Ordinary job", "Ordinært job", "#1a9850"),
    State("WS_PRIV", "Private wage subsidy", "Privat løntilskud", "#91cf60"),
    State("WS_PUB", "Public wage subsidy", "Offentligt løntilskud", "#d9ef8b"),
    State("INTERN", "Company internship", "Virksomhedspraktik", "#66bd63"),
    State("UPSKILL", "Guidance and upskilling", "Vejledning og opkvalificering", "#fee08b"),
    State("PASSIVE", "Passive support", "Passiv forsørgelse", "#d73027"),
    State("SICK", "Sickness benefit", "Sygedagpenge", "#f46d43"),
    State("EDU", "Education (SU)", "Uddannelse (SU)", "#4575b4"),
    State("OTHER", "Other public support", "Anden offentlig forsørgelse", "#fdae61"),
    State("NONE", "No public support, no job", "Selvforsørget uden job", "#bababa"),
    State("CENS", "Censored (emigrated, dead)", "Censureret (udvandret, død)", "#4d4d4d"),
)

ALPHABET: tuple[str, ...] = tuple(s.code for s in STATES)
STATE_INDEX: dict[str, int] = {code: i for i, code in enumerate(ALPHABET)}
LABELS: dict[str, str] = {s.code: s.label for s in STATES}
COLOURS: dict[str, str] = {s.code: s.colour for s in STATES}

#: States that count as being on public support (benefit or activation).
SUPPORT_STATES: frozenset[str] = frozenset(
    {"WS_PRIV", "WS_PUB", "INTERN", "UPSKILL", "PASSIVE", "SICK", "OTHER"}
)
#: Active labour-market measures ("aktive tilbud").
ACTIVE_STATES: frozenset[str] = frozenset({"WS_PRIV", "WS_PUB", "INTERN", "UPSKILL"})
#: Wage subsidy or company internship: the instruments the literature finds effective.
WAGE_SUBSIDY_OR_INTERNSHIP: frozenset[str] = frozenset({"WS_PRIV", "WS_PUB", "INTERN"})
