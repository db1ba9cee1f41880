"""Sampling the demo corpus: random sentences of the grammar, drawn with a seeded RNG.

Draws use only ``rng.random()`` and ``rng.choice`` over sequences in fixed lexicon order,
so one seed gives the same pairs on every Python from 3.10 on.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Generic, TypeVar

from seq2seq.demo.grammar import (
    Clause,
    NounPhrase,
    PrepositionalPhrase,
    Sentence,
    translate,
)
from seq2seq.demo.lexicon import (
    ADJECTIVES,
    CONJUNCTIONS,
    FOR,
    FROM,
    MODALS,
    NOUNS,
    NUMBERS,
    PERSON_TAGS,
    POSSESSIVES,
    PRONOUNS,
    THAT,
    TIME_PHRASES,
    VERBS,
    WITH,
    WITHOUT,
    Adjective,
    Modal,
    Noun,
    Verb,
)

T = TypeVar("T")

MIN_WORDS, MAX_WORDS = 4, 14
"""Bounds on the number of English words (whitespace tokens) of a sentence."""


class Weighted(Generic[T]):
    """Options with weights, drawn with ``rng.random()`` alone (stable across Pythons)."""

    def __init__(self, weighted_options: Sequence[tuple[T, float]]) -> None:
        self.options = tuple(option for option, _ in weighted_options)
        self.cumulative = tuple(itertools.accumulate(weight for _, weight in weighted_options))

    def draw(self, rng: random.Random) -> T:
        return self.options[bisect.bisect(self.cumulative, rng.random() * self.cumulative[-1])]


SENTENCE_KINDS = Weighted([("simple", 0.5), ("question", 0.08), ("subclause_after", 0.18),
                           ("subclause_first", 0.1), ("that", 0.14)])
FRAMES = Weighted([("tr", 0.42), ("intr", 0.13), ("ditr", 0.1), ("dat", 0.07), ("motion", 0.12),
                   ("copula", 0.16)])
COUNTABLE_DETERMINERS = Weighted([
    (("the", False), 0.42), (("a", False), 0.2), (("poss", False), 0.08), (("the", True), 0.12),
    (("none", True), 0.1), (("number", True), 0.05), (("poss", True), 0.03)])
MASS_DETERMINERS = Weighted([(("the", False), 0.45), (("none", False), 0.45), (("poss", False), 0.1)])
"""(determiner, plural); "poss" and "number" stand for any possessive or number word."""

_NOUN_LIST = tuple(NOUNS.values())
_PRONOUN_LIST = tuple(PRONOUNS.values())
_OBJECT_PRONOUNS = tuple(p for p in _PRONOUN_LIST if "person" in p.tags)
_ADJECTIVE_LIST = tuple(ADJECTIVES.values())
_VERBS_BY_FRAME = {frame: tuple(verb for verb in VERBS if verb.frame == frame)
                   for frame in ("intr", "tr", "dat", "ditr", "motion", "copula", "say")}


@functools.cache
def _nouns_tagged(tags: frozenset[str]) -> tuple[Noun, ...]:
    """Nouns with any of ``tags``, in lexicon order."""
    return tuple(noun for noun in _NOUN_LIST if noun.tags & tags)


@functools.cache
def _adjectives_for(tags: frozenset[str]) -> tuple[Adjective, ...]:
    """Adjectives that fit a noun with ``tags``, in lexicon order."""
    return tuple(adjective for adjective in _ADJECTIVE_LIST if adjective.tags & tags)


class SentenceSampler:
    """Draws random :class:`Sentence` objects from the grammar with one ``random.Random``."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def chance(self, probability: float) -> bool:
        return self.rng.random() < probability

    def sentence(self) -> Sentence:
        kind = SENTENCE_KINDS.draw(self.rng)
        if kind == "simple":
            time = self.rng.choice(TIME_PHRASES) if self.chance(0.3) else None
            return Sentence(self.clause(inverted=time is not None), time=time)
        if kind == "question":
            return Sentence(self.clause(inverted=True, question=True), question=True)
        if kind == "that":
            return Sentence(self.say_clause(), conjunction=THAT,
                            subordinate=self.clause(short=True))
        conjunction = self.rng.choice(CONJUNCTIONS)
        first = kind == "subclause_first"
        return Sentence(self.clause(inverted=first, short=True), conjunction=conjunction,
                        subordinate=self.clause(short=True), subordinate_first=first)

    def say_clause(self) -> Clause:
        verb = self.rng.choice(_VERBS_BY_FRAME["say"])
        return Clause(self.subject(verb.subject_tags, short=True), verb)

    def clause(self, inverted: bool = False, question: bool = False, short: bool = False) -> Clause:
        """A clause; in ``inverted`` ones a noun subject keeps object pronouns out."""
        verb = self.rng.choice(_VERBS_BY_FRAME[FRAMES.draw(self.rng)])
        modal = self.modal(verb, question)
        negated = not question and self.chance(0.15) and (modal is None or modal.negatable)
        subject = self.subject(verb.subject_tags, short)
        pronoun_objects = not inverted or subject.pronoun is not None
        objects = self.objects(verb, subject, negated, pronoun_objects, short)
        clause = Clause(subject, verb, modal=modal, negated=negated, **objects)
        if verb.frame == "copula":
            return self.copula_complement(clause, short)
        if verb.adjuncts and not negated and self.chance(0.15 if short else 0.35):
            clause = self.with_adjunct(clause, self.rng.choice(verb.adjuncts))
        return clause

    def modal(self, verb: Verb, question: bool) -> Modal | None:
        if verb.frame in ("copula", "say") or not self.chance(0.12):
            return None
        modal = self.rng.choice(MODALS)
        return None if question and not modal.negatable else modal

    def subject(self, tags: frozenset[str], short: bool) -> NounPhrase:
        pronouns = [p for p in _PRONOUN_LIST if p.tags & tags]
        if pronouns and self.chance(0.3):
            return NounPhrase(pronoun=self.rng.choice(pronouns))
        return self.noun_phrase(tags, short)

    def objects(self, verb: Verb, subject: NounPhrase, negated: bool, pronouns: bool,
                short: bool) -> dict[str, NounPhrase | PrepositionalPhrase]:
        """The objects, or the direction, that the verb's frame asks for.

        Negated clauses get definite dative objects and no numbers ("nicht"/"kein" stay
        unambiguous). After the recipient "her" the thing given is never bare, which
        keeps "buys her coffee" (ihren Kaffee) apart from "buys her the coffee".
        """
        if verb.frame == "tr":
            return {"direct_object": self.object(verb.object_tags, subject, pronouns, short,
                                                 negated=negated)}
        if verb.frame == "dat":
            return {"dative_object": self.object(verb.object_tags, subject, pronouns, short,
                                                 definite=negated)}
        if verb.frame == "ditr":
            recipient = self.object(verb.recipient_tags, subject, pronouns, short=True,
                                    definite=negated)
            thing = self.object(verb.object_tags, subject, False, short, negated=negated)
            if recipient.pronoun == PRONOUNS["she"] and thing.determiner == "none":
                thing = replace(thing, determiner="the")
            return {"dative_object": recipient, "direct_object": thing}
        if verb.frame == "motion":
            place = self.place_phrase()
            return {"direction": PrepositionalPhrase(place.noun.direction, place)}
        return {}

    def object(self, tags: frozenset[str], subject: NounPhrase, pronouns: bool, short: bool,
               definite: bool = False, negated: bool = False) -> NounPhrase:
        """An object that differs from the subject (no "the dog sees the dog", no "I see me")."""
        while True:
            if pronouns and PERSON_TAGS & tags and self.chance(0.15):
                candidate = NounPhrase(pronoun=self.rng.choice(_OBJECT_PRONOUNS))
            else:
                candidate = self.noun_phrase(tags, short, definite)
            if negated and candidate.determiner in NUMBERS:
                candidate = replace(candidate, determiner="none")
            if _distinct(subject, candidate):
                return candidate

    def noun_phrase(self, tags: frozenset[str], short: bool = False,
                    definite: bool = False) -> NounPhrase:
        noun = self.rng.choice(_nouns_tagged(tags))
        if definite:
            determiner, plural = "the", self.chance(0.2) and noun.countable
        else:
            determiners = COUNTABLE_DETERMINERS if noun.countable else MASS_DETERMINERS
            determiner, plural = determiners.draw(self.rng)
        if determiner == "poss":
            determiner = "the" if "generic" in noun.tags else self.rng.choice(tuple(POSSESSIVES))
        elif determiner == "number":
            determiner = self.rng.choice(tuple(NUMBERS))
        return NounPhrase(noun, determiner, plural, self.adjective(noun, 0.1 if short else 0.25))

    def adjective(self, noun: Noun, probability: float) -> Adjective | None:
        candidates = _adjectives_for(noun.tags)
        if not candidates or not self.chance(probability):
            return None
        return self.rng.choice(candidates)

    def place_phrase(self) -> NounPhrase:
        noun = self.rng.choice(_nouns_tagged(frozenset({"place"})))
        own = "own" in noun.tags and self.chance(0.25)
        determiner = self.rng.choice(tuple(POSSESSIVES)) if own else "the"
        return NounPhrase(noun, determiner, False, self.adjective(noun, 0.1))

    def companion(self, subject: NounPhrase, tags: frozenset[str]) -> NounPhrase:
        """The object of with, without, for or from."""
        return self.object(tags, subject, pronouns=True, short=True)

    def with_adjunct(self, clause: Clause, kind: str) -> Clause:
        if kind == "loc":
            place = self.place_phrase()
            adjunct = PrepositionalPhrase(place.noun.location, place)
        else:
            preposition = {"with": WITH, "for": FOR, "from": FROM}[kind]
            if kind == "with" and clause.verb.frame == "motion" and self.chance(0.3):
                preposition = WITHOUT
            tags = frozenset({"animate" if kind == "with" else "person"})
            adjunct = PrepositionalPhrase(preposition, self.companion(clause.subject, tags))
        return replace(clause, adjunct=adjunct)

    def copula_complement(self, clause: Clause, short: bool) -> Clause:
        """A predicate adjective fitting the subject, or a place: "is in the garden"."""
        tags = clause.subject.pronoun.tags if clause.subject.pronoun else clause.subject.noun.tags
        adjectives = _adjectives_for(tags)
        if not adjectives or self.chance(0.25):
            place = self.place_phrase()
            return replace(clause, adjunct=PrepositionalPhrase(place.noun.location, place))
        return replace(clause, predicate=self.rng.choice(adjectives))


def _distinct(subject: NounPhrase, other: NounPhrase) -> bool:
    """Whether ``other`` can stand beside ``subject`` without being a reflexive."""
    if subject.pronoun and other.pronoun:
        first_or_second = subject.pronoun.person[0] in "12"
        return not (first_or_second and subject.pronoun.person[0] == other.pronoun.person[0])
    return subject.noun is None or subject.noun != other.noun


def _word_count(text: str) -> int:
    return len(text.split())


def sample_pair(rng: random.Random) -> tuple[str, str]:
    """One (English, German) pair of :data:`MIN_WORDS` to :data:`MAX_WORDS` English words."""
    sampler = SentenceSampler(rng)
    while True:
        english, german = translate(sampler.sentence())
        if MIN_WORDS <= _word_count(english) <= MAX_WORDS:
            return english, german


def generate_pairs(n: int, seed: int) -> list[tuple[str, str]]:
    """``n`` (English, German) pairs, the same for the same ``n`` and ``seed``."""
    rng = random.Random(seed)
    return [sample_pair(rng) for _ in range(n)]

