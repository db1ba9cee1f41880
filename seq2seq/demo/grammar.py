"""The demo corpus's grammar: German and English forms of words, phrases and sentences.

A :class:`Sentence` (built by hand or by :mod:`seq2seq.demo.sampling`) is rendered by
:func:`translate` as its one (English, German) pair. Every English sentence has exactly
one German translation: "you" is always "du", "you all" is "ihr", "teacher" is
"Lehrer", English has the simple present only and German the present tense.

Phenomena, with a pair for each:

- Verb-second main clauses; a fronted time phrase moves the subject behind the verb.
  "Today the man sees the dog." -> "Heute sieht der Mann den Hund."
- Verb-final subordinate clauses after a comma (weil, obwohl, wenn, dass).
  "The child laughs, because the woman reads a book." ->
  "Das Kind lacht, weil die Frau ein Buch liest."
  "The man says that the dog sleeps." -> "Der Mann sagt, dass der Hund schläft."
- A fronted subordinate clause takes the first position of the main clause.
  "When the dog sleeps, the cat plays." -> "Wenn der Hund schläft, spielt die Katze."
- Yes/no questions put the finite verb first (English uses do-support).
  "Does the girl drink milk?" -> "Trinkt das Mädchen Milch?"
- Modal verbs send the infinitive to the end (können, wollen, müssen).
  "The boy wants to read the book." -> "Der Junge will das Buch lesen."
- Separable verbs split in main clauses and join in subordinate clauses.
  "The woman calls the man." -> "Die Frau ruft den Mann an."
  "..., because the woman calls the man." -> "..., weil die Frau den Mann anruft."
- Articles and adjectives inflect for gender, case and number, with weak, mixed and
  strong adjective endings; weak masculine nouns take -n; dative plurals take -n.
  "The small dog sees a small horse." -> "Der kleine Hund sieht ein kleines Pferd."
  "The woman helps the old man." -> "Die Frau hilft dem alten Mann."
  "Two big dogs play with the children." -> "Zwei große Hunde spielen mit den Kindern."
  "The teacher sees the boy." -> "Der Lehrer sieht den Jungen."
- Dative and accusative objects: indirect objects, dative verbs, prepositions with a
  fixed case (mit, von + dative; für, ohne + accusative) and in/an for place (dative)
  against into/to for direction (accusative / zu + dative), with contractions.
  "The man gives the child a ball." -> "Der Mann gibt dem Kind einen Ball."
  "The woman goes into the house." -> "Die Frau geht ins Haus."
  "The child sleeps in the garden." -> "Das Kind schläft im Garten."
  "The man goes into the city without the dog." -> "Der Mann geht ohne den Hund in die Stadt."
  "The woman receives a letter from the friend." -> "Die Frau bekommt einen Brief vom Freund."
- Irregular plurals (English and German) and subject-verb agreement, with the stem
  changes of strong verbs and e-insertion.
  "The women eat apples." -> "Die Frauen essen Äpfel."
  "You drive the car." -> "Du fährst das Auto."
  "You all wait in the park." -> "Ihr wartet im Park."
- Compounds: an English two-noun phrase is one German noun with the head's gender.
  "The children see the apple tree." -> "Die Kinder sehen den Apfelbaum."
  "The boy takes the school bus." -> "Der Junge nimmt den Schulbus."
- Personal pronouns in three cases, and possessives (ein-words).
  "She gives him my book." -> "Sie gibt ihm mein Buch."
- Negation: "kein" for an indefinite accusative object, "nicht" otherwise.
  "The man does not read a book." -> "Der Mann liest kein Buch."
  "The man does not read the book." -> "Der Mann liest das Buch nicht."
- Predicative adjectives stay uninflected: "The tea is hot." -> "Der Tee ist heiß."

German sentences use umlauts and ß (Äpfel, Häuser, groß, weiß), capitalise every noun,
and, like the English ones, start with a capital letter and end in "." or "?".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from seq2seq.demo.lexicon import (
    ADJECTIVE_ENDINGS,
    ADJECTIVES,
    CONTRACTIONS,
    DEFINITE_ARTICLES,
    EIN_WORD_ENDINGS,
    IRREGULAR_PRESENT,
    NOUNS,
    NUMBERS,
    PERSONS,
    POSSESSIVES,
    PRONOUNS,
    STRONG_STEMS,
    THAT,
    TIME_PHRASES,
    Adjective,
    Conjunction,
    Modal,
    Noun,
    Preposition,
    Pronoun,
    Verb,
)

# ---------------------------------------------------------------------------------------
# Morphology
# ---------------------------------------------------------------------------------------

def conjugate(infinitive: str, person: str) -> str:
    """The German present tense of ``infinitive`` (no separable particle) for ``person``.

    ``person`` is one of :data:`PERSONS`: ``conjugate("lesen", "3sg") == "liest"``.
    """
    index = PERSONS.index(person)
    if infinitive in IRREGULAR_PRESENT:
        return IRREGULAR_PRESENT[infinitive][index]
    stem = infinitive[:-2] if infinitive.endswith("en") else infinitive[:-1]
    strong = STRONG_STEMS.get(infinitive)
    if strong and person in ("2sg", "3sg"):
        if person == "2sg":
            return strong + ("t" if _hisses(strong) else "st")
        return strong if strong.endswith("t") else strong + "t"
    if person in ("1pl", "3pl"):
        return infinitive
    if person == "1sg":
        return stem + "e"
    linking_e = "e" if _needs_linking_e(stem) else ""
    if person == "2sg":
        return stem + linking_e + ("t" if _hisses(stem) and not linking_e else "st")
    return stem + linking_e + "t"


def _hisses(stem: str) -> bool:
    """Stems ending in s, ß, x or z take -t, not -st, for du (du liest, du tanzt)."""
    return stem.endswith(("s", "ß", "x", "z"))


def _needs_linking_e(stem: str) -> bool:
    """Stems in -d, -t or consonant + m/n insert e: du wartest, er öffnet, ihr findet."""
    return re.search(r"([dt]|[^aeiouäöülrhmn][mn]|chn)$", stem) is not None


def english_third_person(base: str) -> str:
    """The English 3rd person singular present: sees, goes, carries, has, looks for."""
    head, _, rest = base.partition(" ")
    if head == "have":
        inflected = "has"
    elif head.endswith(("s", "sh", "ch", "x", "z", "o")):
        inflected = head + "es"
    elif head.endswith("y") and head[-2] not in "aeiou":
        inflected = head[:-1] + "ies"
    else:
        inflected = head + "s"
    return f"{inflected} {rest}" if rest else inflected


def english_present(base: str, person: str) -> str:
    """The English simple present of ``base`` for ``person``."""
    return english_third_person(base) if person == "3sg" else base


def english_be(person: str) -> str:
    return {"1sg": "am", "3sg": "is"}.get(person, "are")


# ---------------------------------------------------------------------------------------
# Noun phrases
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class NounPhrase:
    """A pronoun, or a noun with a determiner and at most one adjective.

    ``determiner``: ``"the"``, ``"a"``, ``"none"`` (bare plural or mass noun), a number
    word of :data:`NUMBERS` or a possessive of :data:`POSSESSIVES`.
    """

    noun: Noun | None = None
    determiner: str = "the"
    plural: bool = False
    adjective: Adjective | None = None
    pronoun: Pronoun | None = None

    @property
    def person(self) -> str:
        if self.pronoun:
            return self.pronoun.person
        return "3pl" if self.plural else "3sg"

    @property
    def indefinite(self) -> bool:
        """Indefinite phrases are negated with kein: ein Buch -> kein Buch, Äpfel -> keine."""
        return self.pronoun is None and self.determiner in ("a", "none")


def noun_phrase(noun: str, determiner: str = "the", adjective: str | None = None,
                plural: bool = False) -> NounPhrase:
    """A noun phrase from English lexicon entries: ``noun_phrase("dog", "a", "small")``."""
    return NounPhrase(NOUNS[noun], determiner, plural,
                      ADJECTIVES[adjective] if adjective else None)


def pronoun_phrase(english_subject: str) -> NounPhrase:
    """A pronoun by its English subject form: ``pronoun_phrase("she")``."""
    return NounPhrase(pronoun=PRONOUNS[english_subject])


def english_noun_phrase(phrase: NounPhrase, role: str = "subject") -> str:
    """The English phrase; ``role`` is ``"subject"`` or ``"object"`` (he / him)."""
    if phrase.pronoun:
        pronoun = phrase.pronoun
        return pronoun.english_subject if role == "subject" else pronoun.english_object
    noun = phrase.noun.english_plural if phrase.plural else phrase.noun.english
    words = [phrase.adjective.english, noun] if phrase.adjective else [noun]
    if phrase.determiner == "a":
        return " ".join([_english_indefinite_article(words[0]), *words])
    if phrase.determiner == "none":
        return " ".join(words)
    return " ".join([phrase.determiner, *words])


def _english_indefinite_article(next_word: str) -> str:
    return "an" if next_word[0] in "aeio" else "a"


def german_noun_phrase(phrase: NounPhrase, case: str, negated: bool = False) -> str:
    """The German phrase in ``case`` (``nom``, ``acc``, ``dat``).

    With ``negated``, an indefinite phrase takes kein: ``keinen kleinen Hund``.
    """
    if phrase.pronoun:
        return getattr(phrase.pronoun, case)
    key = "pl" if phrase.plural else phrase.noun.gender
    determiner, declension = _german_determiner(phrase, case, key, negated and phrase.indefinite)
    words = [determiner] if determiner else []
    if phrase.adjective:
        words.append(phrase.adjective.stem + ADJECTIVE_ENDINGS[declension][case][key])
    words.append(german_noun_form(phrase.noun, phrase.plural, case))
    return " ".join(words)


def _german_determiner(phrase: NounPhrase, case: str, key: str,
                       kein: bool) -> tuple[str | None, str]:
    """The German determiner (None for none) and the adjective declension it calls for."""
    if kein:
        return "kein" + EIN_WORD_ENDINGS[case][key], "mixed"
    if phrase.determiner == "the":
        return DEFINITE_ARTICLES[case][key], "weak"
    if phrase.determiner == "a":
        return "ein" + EIN_WORD_ENDINGS[case][key], "mixed"
    if phrase.determiner in POSSESSIVES:
        return POSSESSIVES[phrase.determiner] + EIN_WORD_ENDINGS[case][key], "mixed"
    if phrase.determiner in NUMBERS:
        return NUMBERS[phrase.determiner], "strong"
    return None, "strong"


def german_noun_form(noun: Noun, plural: bool, case: str) -> str:
    """Hund / Hunde / Hunden (dative plural), Junge / Jungen (weak noun, not nominative)."""
    if plural:
        form = noun.german_plural
        return form + "n" if case == "dat" and not form.endswith(("n", "s")) else form
    if noun.oblique and case != "nom":
        return noun.oblique
    return noun.german


@dataclass(frozen=True)
class PrepositionalPhrase:
    preposition: Preposition
    phrase: NounPhrase


def english_prepositional_phrase(pp: PrepositionalPhrase) -> str:
    return f"{pp.preposition.english} {english_noun_phrase(pp.phrase, 'object')}"


def german_prepositional_phrase(pp: PrepositionalPhrase) -> str:
    """The German phrase in the preposition's case, contracted: in dem Park -> im Park."""
    phrase = german_noun_phrase(pp.phrase, pp.preposition.case)
    article, _, rest = phrase.partition(" ")
    contraction = CONTRACTIONS.get((pp.preposition.german, article))
    if contraction and pp.phrase.determiner == "the" and not pp.phrase.pronoun:
        return f"{contraction} {rest}"
    return f"{pp.preposition.german} {phrase}"


def german_noun_forms() -> frozenset[str]:
    """Every German word of the corpus that is a noun (all are capitalised)."""
    forms = set()
    for noun in NOUNS.values():
        for plural in (False, True):
            forms.update(german_noun_form(noun, plural, case) for case in ("nom", "acc", "dat"))
    for _, german in TIME_PHRASES:
        forms.update(word for word in german.split() if word[0].isupper())
    return frozenset(forms)


# ---------------------------------------------------------------------------------------
# Clauses and sentences
# ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Clause:
    """One clause: a subject, a verb and what the verb's frame and adjuncts add.

    ``dative_object`` is the indirect object of ``ditr`` verbs and the only object of
    ``dat`` verbs; ``predicate`` the adjective of a copula.
    """

    subject: NounPhrase
    verb: Verb
    direct_object: NounPhrase | None = None
    dative_object: NounPhrase | None = None
    predicate: Adjective | None = None
    adjunct: PrepositionalPhrase | None = None
    direction: PrepositionalPhrase | None = None
    modal: Modal | None = None
    negated: bool = False


@dataclass(frozen=True)
class Sentence:
    """A main clause, maybe with a fronted time phrase, as a question, or with a subclause."""

    main: Clause
    time: tuple[str, str] | None = None
    question: bool = False
    conjunction: Conjunction | None = None
    subordinate: Clause | None = None
    subordinate_first: bool = False


def english_clause(clause: Clause, question: bool = False) -> str:
    """The English clause: subject, verb group, objects, predicate, direction, adjunct."""
    subject = english_noun_phrase(clause.subject)
    before_subject, after_subject = _english_verb_group(clause, question)
    rest = [english_noun_phrase(phrase, "object")
            for phrase in (clause.dative_object, clause.direct_object) if phrase]
    if clause.predicate:
        rest.append(clause.predicate.english)
    rest += [english_prepositional_phrase(pp) for pp in (clause.direction, clause.adjunct) if pp]
    return " ".join([*before_subject, subject, *after_subject, *rest])


def _english_verb_group(clause: Clause, question: bool) -> tuple[list[str], list[str]]:
    """The verb words before and after the subject (do-support, modals, not)."""
    person, verb, modal = clause.subject.person, clause.verb, clause.modal
    if verb.frame == "copula":
        be, negation = english_be(person), ["not"] if clause.negated else []
        return ([be], negation) if question else ([], [be, *negation])
    if modal and not modal.do_support:
        if question:
            return [modal.english], [verb.english]
        return [], [modal.english_negated if clause.negated else modal.english, verb.english]
    base = f"{modal.english} {verb.english}" if modal else verb.english
    do = "does" if person == "3sg" else "do"
    if question:
        return [do], [base]
    if clause.negated:
        return [], [do, "not", base]
    return [], [english_present(base, person)]


def german_clause(clause: Clause, order: str) -> str:
    """The German clause in ``order``: ``main`` (subject first, verb second), ``inverted``
    (verb, then subject: after a fronted phrase, or a question) or ``subordinate``
    (verb last)."""
    subject = german_noun_phrase(clause.subject, "nom")
    middle = _german_middle_field(clause)
    verb, modal = clause.verb, clause.modal
    finite = conjugate((modal or verb).german, clause.subject.person)
    if order == "subordinate":
        verbs = [verb.infinitive, finite] if modal else [verb.particle + finite]
        return " ".join([subject, *middle, *verbs])
    final = [verb.infinitive] if modal else [verb.particle] if verb.particle else []
    if order == "inverted":
        return " ".join([finite, subject, *middle, *final])
    return " ".join([subject, finite, *middle, *final])


def _german_middle_field(clause: Clause) -> list[str]:
    """Objects (dative before accusative), nicht, then adjunct, direction and predicate."""
    words = []
    if clause.dative_object:
        words.append(german_noun_phrase(clause.dative_object, "dat"))
    direct = clause.direct_object
    if direct:
        words.append(german_noun_phrase(direct, "acc", negated=clause.negated))
    if clause.negated and not (direct and direct.indefinite):
        words.append("nicht")
    words += [german_prepositional_phrase(pp) for pp in (clause.adjunct, clause.direction) if pp]
    if clause.predicate:
        words.append(clause.predicate.german)
    return words


def english_sentence(sentence: Sentence) -> str:
    """The English sentence, capitalised and punctuated."""
    if sentence.subordinate is None:
        main = english_clause(sentence.main, sentence.question)
        text = f"{sentence.time[0]} {main}" if sentence.time else main
        return _finish(text, "?" if sentence.question else ".")
    main = english_clause(sentence.main)
    subordinate = f"{sentence.conjunction.english} {english_clause(sentence.subordinate)}"
    if sentence.subordinate_first:
        return _finish(f"{subordinate}, {main}", ".")
    separator = " " if sentence.conjunction == THAT else ", "
    return _finish(f"{main}{separator}{subordinate}", ".")


def german_sentence(sentence: Sentence) -> str:
    """The German sentence, capitalised and punctuated (a comma before every subclause)."""
    if sentence.subordinate is None:
        if sentence.question:
            return _finish(german_clause(sentence.main, "inverted"), "?")
        if sentence.time:
            return _finish(f"{sentence.time[1]} {german_clause(sentence.main, 'inverted')}", ".")
        return _finish(german_clause(sentence.main, "main"), ".")
    subordinate = f"{sentence.conjunction.german} {german_clause(sentence.subordinate, 'subordinate')}"
    if sentence.subordinate_first:
        return _finish(f"{subordinate}, {german_clause(sentence.main, 'inverted')}", ".")
    return _finish(f"{german_clause(sentence.main, 'main')}, {subordinate}", ".")


def _finish(text: str, punctuation: str) -> str:
    return text[0].upper() + text[1:] + punctuation


def translate(sentence: Sentence) -> tuple[str, str]:
    """The (English, German) pair of a sentence."""
    return english_sentence(sentence), german_sentence(sentence)

