"""Tests for seq2seq.demo: German grammar, determinism, splits and the command."""

from __future__ import annotations

import errno
import os
import re
import statistics
from collections import defaultdict

import pytest

from seq2seq.demo.corpus import DEFAULT_SIZES, generate_corpus, main, write_corpus
from seq2seq.demo.grammar import (
    Clause,
    PrepositionalPhrase,
    Sentence,
    conjugate,
    english_noun_phrase,
    english_third_person,
    german_noun_forms,
    german_noun_phrase,
    german_prepositional_phrase,
    noun_phrase,
    pronoun_phrase,
    translate,
)
from seq2seq.demo.lexicon import (
    ADJECTIVES,
    CONJUNCTIONS,
    FOR,
    FROM,
    IN,
    INTO,
    MODALS,
    PERSONS,
    THAT,
    TIME_PHRASES,
    TO,
    VERBS,
    WITH,
    find_verb,
)
from seq2seq.demo.sampling import MAX_WORDS, MIN_WORDS, generate_pairs

SAMPLE_SIZE = 4000
BECAUSE, ALTHOUGH, WHEN = CONJUNCTIONS
SUBORDINATORS = ("weil", "obwohl", "wenn", "dass")


@pytest.fixture(scope="module")
def sample() -> list[tuple[str, str]]:
    return generate_pairs(SAMPLE_SIZE, seed=11)


def finite_forms(with_particles: bool) -> set[str]:
    """Every finite German verb form of the lexicon, separable particles attached or not."""
    forms = {conjugate(modal.german, person) for modal in MODALS for person in PERSONS}
    for verb in VERBS:
        prefix = verb.particle if with_particles else ""
        forms.update(prefix + conjugate(verb.german, person) for person in PERSONS)
    return forms


def upper_first(text: str) -> str:
    return text[0].upper() + text[1:]


def words(text: str) -> list[str]:
    return [word.strip(".,?") for word in text.split()]


# --- determinism and splits -------------------------------------------------------------

def test_pairs_are_deterministic_for_a_seed_and_differ_across_seeds():
    assert generate_pairs(300, seed=5) == generate_pairs(300, seed=5)
    assert generate_pairs(300, seed=5) != generate_pairs(300, seed=6)


def test_default_corpus_is_pinned():
    """The default corpus must not drift between Python versions or by accident (prepared
    data is cached by seed and sizes); when the grammar changes on purpose, update this."""
    assert generate_corpus({"train": 5, "validation": 2, "test": 3})["test"] == [
        ("I hope that we are in the park.", "Ich hoffe, dass wir im Park sind."),
        ("We know that I am friendly.", "Wir wissen, dass ich freundlich bin."),
        ("On Saturday she must follow him.", "Am Samstag muss sie ihm folgen."),
    ]


def test_split_sizes_and_held_out_sentences_are_disjoint():
    corpus = generate_corpus({"train": 3000, "validation": 300, "test": 300}, seed=3)
    assert {split: len(pairs) for split, pairs in corpus.items()} == {
        "train": 3000, "validation": 300, "test": 300}
    train = {english for english, _ in corpus["train"]}
    validation = [english for english, _ in corpus["validation"]]
    test = [english for english, _ in corpus["test"]]
    assert len(set(validation)) == len(validation) and len(set(test)) == len(test)
    assert not set(validation) & set(test)
    assert not train & set(validation) and not train & set(test)
    assert len(train) > 0.97 * len(corpus["train"])


def test_missing_sizes_default_and_unknown_splits_fail():
    assert len(generate_corpus({"train": 10, "validation": 5})["test"]) == DEFAULT_SIZES["test"]
    with pytest.raises(ValueError, match="dev"):
        generate_corpus({"dev": 10})
    with pytest.raises(ValueError, match="non-negative"):
        generate_corpus({"train": -1})


# --- morphology ---------------------------------------------------------------------------

@pytest.mark.parametrize(("noun", "determiner", "adjective", "plural", "case", "german"), [
    ("dog", "the", "small", False, "nom", "der kleine Hund"),
    ("dog", "the", "small", False, "acc", "den kleinen Hund"),
    ("dog", "the", "small", False, "dat", "dem kleinen Hund"),
    ("dog", "a", "small", False, "acc", "einen kleinen Hund"),
    ("dog", "the", "small", True, "nom", "die kleinen Hunde"),
    ("dog", "two", "big", True, "dat", "zwei großen Hunden"),
    ("house", "a", "small", False, "nom", "ein kleines Haus"),
    ("house", "the", None, True, "nom", "die Häuser"),
    ("house", "our", "old", False, "dat", "unserem alten Haus"),
    ("car", "a", "red", False, "dat", "einem roten Auto"),
    ("car", "the", None, True, "dat", "den Autos"),
    ("car", "a", "expensive", False, "nom", "ein teures Auto"),
    ("apple", "none", "green", True, "acc", "grüne Äpfel"),
    ("child", "her", None, True, "dat", "ihren Kindern"),
    ("woman", "a", "tired", False, "dat", "einer müden Frau"),
    ("boy", "the", None, False, "acc", "den Jungen"),
    ("bear", "a", None, False, "dat", "einem Bären"),
    ("water", "none", "cold", False, "nom", "kaltes Wasser"),
    ("coffee", "none", "hot", False, "acc", "heißen Kaffee"),
    ("tea", "none", "hot", False, "dat", "heißem Tee"),
    ("milk", "none", "cold", False, "dat", "kalter Milch"),
    ("apple tree", "the", "big", False, "nom", "der große Apfelbaum"),
    ("apple tree", "the", None, True, "dat", "den Apfelbäumen"),
    ("school bus", "a", None, False, "acc", "einen Schulbus"),
    ("children's room", "the", None, False, "nom", "das Kinderzimmer"),
])
def test_german_noun_phrases(noun, determiner, adjective, plural, case, german):
    assert german_noun_phrase(noun_phrase(noun, determiner, adjective, plural), case) == german


@pytest.mark.parametrize(("noun", "determiner", "adjective", "plural", "german"), [
    ("dog", "a", "big", False, "keinen großen Hund"),
    ("dog", "none", "big", True, "keine großen Hunde"),
    ("milk", "none", "cold", False, "keine kalte Milch"),
    ("book", "a", None, False, "kein Buch"),
    ("book", "the", None, False, "das Buch"),
    ("book", "my", None, False, "mein Buch"),
])
def test_negation_turns_indefinite_objects_into_kein(noun, determiner, adjective, plural, german):
    phrase = noun_phrase(noun, determiner, adjective, plural)
    assert german_noun_phrase(phrase, "acc", negated=True) == german


@pytest.mark.parametrize(("noun", "determiner", "adjective", "plural", "english"), [
    ("man", "a", "old", False, "an old man"),
    ("apple", "a", None, False, "an apple"),
    ("apple", "a", "red", False, "a red apple"),
    ("child", "the", None, True, "the children"),
    ("mouse", "three", "white", True, "three white mice"),
    ("children's book", "a", None, False, "a children's book"),
    ("milk", "none", None, False, "milk"),
])
def test_english_noun_phrases(noun, determiner, adjective, plural, english):
    assert english_noun_phrase(noun_phrase(noun, determiner, adjective, plural)) == english


@pytest.mark.parametrize(("pronoun", "case", "german"), [
    ("I", "acc", "mich"), ("you", "dat", "dir"), ("he", "acc", "ihn"), ("she", "dat", "ihr"),
    ("you all", "nom", "ihr"), ("they", "dat", "ihnen"),
])
def test_pronoun_cases(pronoun, case, german):
    assert german_noun_phrase(pronoun_phrase(pronoun), case) == german


@pytest.mark.parametrize(("preposition", "noun", "determiner", "german"), [
    (IN, "park", "the", "im Park"),
    (INTO, "house", "the", "ins Haus"),
    (INTO, "kitchen", "the", "in die Küche"),
    (IN, "room", "my", "in meinem Zimmer"),
    (WITH, "friend", "a", "mit einem Freund"),
    (TO, "station", "the", "zum Bahnhof"),
    (TO, "school", "the", "zur Schule"),
    (FROM, "teacher", "the", "vom Lehrer"),
    (FOR, "neighbour", "the", "für den Nachbarn"),
])
def test_prepositions_govern_case_and_contract(preposition, noun, determiner, german):
    pp = PrepositionalPhrase(preposition, noun_phrase(noun, determiner))
    assert german_prepositional_phrase(pp) == german


@pytest.mark.parametrize(("infinitive", "person", "form"), [
    ("sehen", "1sg", "sehe"), ("sehen", "2sg", "siehst"), ("sehen", "3sg", "sieht"),
    ("sehen", "1pl", "sehen"), ("sehen", "2pl", "seht"), ("sehen", "3pl", "sehen"),
    ("lesen", "2sg", "liest"), ("lesen", "3sg", "liest"), ("geben", "3sg", "gibt"),
    ("essen", "2sg", "isst"), ("fahren", "2sg", "fährst"), ("fahren", "2pl", "fahrt"),
    ("halten", "3sg", "hält"), ("halten", "2sg", "hältst"), ("halten", "2pl", "haltet"),
    ("laden", "3sg", "lädt"), ("nehmen", "2sg", "nimmst"), ("waschen", "2sg", "wäschst"),
    ("warten", "2sg", "wartest"), ("arbeiten", "3sg", "arbeitet"), ("öffnen", "3sg", "öffnet"),
    ("zeichnen", "2sg", "zeichnest"), ("tanzen", "2sg", "tanzt"), ("kommen", "2sg", "kommst"),
    ("wissen", "3sg", "weiß"), ("sein", "2pl", "seid"), ("haben", "2sg", "hast"),
    ("mögen", "3sg", "mag"), ("müssen", "2pl", "müsst"),
])
def test_conjugation(infinitive, person, form):
    assert conjugate(infinitive, person) == form


@pytest.mark.parametrize(("base", "third"), [
    ("see", "sees"), ("go", "goes"), ("carry", "carries"), ("play", "plays"), ("have", "has"),
    ("catch", "catches"), ("wash", "washes"), ("look for", "looks for"), ("get up", "gets up"),
])
def test_english_third_person(base, third):
    assert english_third_person(base) == third


# --- clauses and sentences ------------------------------------------------------------------

def clause(subject, verb, frame="tr", obj=None, **fields) -> Clause:
    return Clause(subject, find_verb(verb, frame), direct_object=obj, **fields)


@pytest.mark.parametrize(("sentence", "english", "german"), [
    (Sentence(clause(pronoun_phrase("he"), "read", obj=noun_phrase("book"))),
     "He reads the book.", "Er liest das Buch."),
    (Sentence(clause(pronoun_phrase("you"), "drive", obj=noun_phrase("car", "a", "red"))),
     "You drive a red car.", "Du fährst ein rotes Auto."),
    (Sentence(clause(noun_phrase("man"), "see", obj=noun_phrase("dog")), time=TIME_PHRASES[0]),
     "Today the man sees the dog.", "Heute sieht der Mann den Hund."),
    (Sentence(clause(noun_phrase("man"), "give", "ditr", noun_phrase("ball", "a"),
                     dative_object=noun_phrase("child"))),
     "The man gives the child a ball.", "Der Mann gibt dem Kind einen Ball."),
    (Sentence(clause(noun_phrase("child"), "laugh", "intr"), conjunction=BECAUSE,
              subordinate=clause(noun_phrase("woman"), "read", obj=noun_phrase("book", "a"))),
     "The child laughs, because the woman reads a book.",
     "Das Kind lacht, weil die Frau ein Buch liest."),
    (Sentence(clause(noun_phrase("cat"), "play", "intr"), conjunction=WHEN,
              subordinate=clause(noun_phrase("dog"), "sleep", "intr"), subordinate_first=True),
     "When the dog sleeps, the cat plays.", "Wenn der Hund schläft, spielt die Katze."),
    (Sentence(clause(pronoun_phrase("I"), "know", "say"), conjunction=THAT,
              subordinate=clause(pronoun_phrase("she"), "call", obj=noun_phrase("man"),
                                 modal=MODALS[1], negated=True)),
     "I know that she does not want to call the man.",
     "Ich weiß, dass sie den Mann nicht anrufen will."),
    (Sentence(clause(noun_phrase("woman"), "call", obj=pronoun_phrase("he")),
              time=TIME_PHRASES[-1]),
     "On Sunday the woman calls him.", "Am Sonntag ruft die Frau ihn an."),
    (Sentence(clause(pronoun_phrase("you all"), "go", "motion",
                     direction=PrepositionalPhrase(INTO, noun_phrase("city")),
                     adjunct=PrepositionalPhrase(WITH, noun_phrase("dog", "none", None, True)))),
     "You all go into the city with dogs.", "Ihr geht mit Hunden in die Stadt."),
    (Sentence(clause(noun_phrase("child"), "swim", "intr", modal=MODALS[0]), question=True),
     "Can the child swim?", "Kann das Kind schwimmen?"),
    (Sentence(clause(noun_phrase("dog", "the", None, True), "be", "copula",
                     predicate=ADJECTIVES["hungry"], negated=True), question=False),
     "The dogs are not hungry.", "Die Hunde sind nicht hungrig."),
    (Sentence(clause(noun_phrase("girl"), "drink", obj=noun_phrase("milk", "none"),
                     negated=True), conjunction=ALTHOUGH,
              subordinate=clause(noun_phrase("milk"), "be", "copula",
                                 predicate=ADJECTIVES["cold"])),
     "The girl does not drink milk, although the milk is cold.",
     "Das Mädchen trinkt keine Milch, obwohl die Milch kalt ist."),
])
def test_sentences(sentence, english, german):
    assert translate(sentence) == (english, german)


# --- the generated corpus -------------------------------------------------------------------

def test_every_english_sentence_has_one_translation():
    translations = defaultdict(set)
    for english, german in generate_pairs(20000, seed=2):
        translations[english].add(german)
    assert all(len(germans) == 1 for germans in translations.values())


def test_sentences_are_capitalised_and_punctuated(sample):
    for english, german in sample:
        for text in (english, german):
            assert text[0].isupper() and text[-1] in ".?", text
            assert "  " not in text and not re.search(r"\s[.,?]", text), text


def test_german_nouns_and_only_nouns_are_capitalised(sample):
    nouns = german_noun_forms()
    assert all(noun[0].isupper() for noun in nouns)
    for _, german in sample:
        for word in words(german)[1:]:
            assert word[0].isupper() == (word in nouns), (word, german)


def test_fronted_time_phrase_puts_the_finite_verb_second(sample):
    finite = finite_forms(with_particles=False)
    checked = 0
    for english, german in sample:
        for english_time, german_time in TIME_PHRASES:
            if english.startswith(upper_first(english_time) + " "):
                assert german.startswith(upper_first(german_time) + " "), (english, german)
                assert words(german)[len(german_time.split())] in finite, german
                checked += 1
    assert checked > SAMPLE_SIZE // 20


def test_subordinate_clauses_end_with_the_finite_verb(sample):
    finite = finite_forms(with_particles=True)
    main_clause_verbs = finite_forms(with_particles=False)
    checked = 0
    for _, german in sample:
        first = words(german)[0].lower()
        if first in SUBORDINATORS:
            subordinate, main_clause = german.split(", ")
            assert words(subordinate)[-1] in finite, german
            assert words(main_clause)[0] in main_clause_verbs, german
            checked += 1
        for conjunction in SUBORDINATORS:
            if f", {conjunction} " in german:
                assert words(german)[-1] in finite, german
                checked += 1
    assert checked > SAMPLE_SIZE // 5


def test_questions_start_with_the_finite_verb(sample):
    finite = finite_forms(with_particles=False)
    questions = [german for _, german in sample if german.endswith("?")]
    assert len(questions) > SAMPLE_SIZE // 25
    assert all(words(german)[0].lower() in finite for german in questions)


def test_umlauts_and_eszett_occur(sample):
    text = " ".join(german for _, german in sample)
    assert {"ä", "ö", "ü", "Ä", "ß"} <= set(text)
    assert {"Äpfel", "Häuser", "Straße"} & set(words(text))
    assert re.search(r"\bgroß(e[nmrs]?)?\b", text)


def test_sentence_lengths(sample):
    lengths = [len(english.split()) for english, _ in sample]
    assert MIN_WORDS <= min(lengths) and max(lengths) <= MAX_WORDS
    assert 7 <= statistics.mean(lengths) <= 9.5
    assert max(len(german.split()) for _, german in sample) <= MAX_WORDS + 2


# --- files and command -----------------------------------------------------------------------

SMALL = ["--train", "40", "--validation", "7", "--test", "5", "--seed", "9"]


def test_command_writes_parallel_files_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main([str(out), *SMALL]) == 0
    printed = capsys.readouterr().out
    corpus = generate_corpus({"train": 40, "validation": 7, "test": 5}, seed=9)
    for split, size in (("train", 40), ("validation", 7), ("test", 5)):
        english = (out / f"{split}.en").read_text(encoding="utf-8")
        german = (out / f"{split}.de").read_text(encoding="utf-8")
        assert english.endswith("\n") and german.endswith("\n")
        assert english.splitlines() == [pair[0] for pair in corpus[split]]
        assert german.splitlines() == [pair[1] for pair in corpus[split]]
        assert len(english.splitlines()) == len(german.splitlines()) == size
        assert f"{out / f'{split}.de'}: {size} lines" in printed

    with pytest.raises(SystemExit) as refused:
        main([str(out), *SMALL])
    assert refused.value.code == 2
    assert "train.en" in capsys.readouterr().err
    assert main([str(out), *SMALL, "--overwrite"]) == 0


def test_write_corpus_names_the_file_it_will_not_overwrite(tmp_path):
    (tmp_path / "test.de").write_text("keep me\n", encoding="utf-8")
    with pytest.raises(FileExistsError, match="test.de"):
        write_corpus(tmp_path, {"train": 3, "validation": 2, "test": 2})
    assert (tmp_path / "test.de").read_text(encoding="utf-8") == "keep me\n"
    counts = write_corpus(tmp_path, {"train": 3, "validation": 2, "test": 2}, overwrite=True)
    assert counts == {"train": 3, "validation": 2, "test": 2}
    with pytest.raises(ValueError, match="English-German"):
        write_corpus(tmp_path, src_lang="en", tgt_lang="fr", overwrite=True)


@pytest.mark.parametrize("bad", [["--train", "-1"], ["--train", "many"], ["--colour", "red"], []])
def test_command_rejects_bad_options(tmp_path, bad):
    argv = bad if not bad else [str(tmp_path), *bad]
    with pytest.raises(SystemExit) as error:
        main(argv)
    assert error.value.code == 2


def test_a_failed_overwrite_keeps_the_previous_corpus_whole(tmp_path, monkeypatch, capsys):
    """A full disk while writing the third file: no file of the new corpus replaces one of
    the old (which stays aligned), nothing temporary is left, and the error is one line."""
    out = tmp_path / "demo"
    assert main([str(out), *SMALL]) == 0
    before = {path.name: path.read_bytes() for path in out.iterdir()}
    real_open, opened = open, []

    def full_disk_on_the_third(file, mode="r", *args, **kwargs):
        if isinstance(file, int) and "w" in mode:
            opened.append(file)
            if len(opened) == 3:
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", full_disk_on_the_third)
    with pytest.raises(SystemExit) as failed:
        main([str(out), "--train", "60", "--overwrite"])
    monkeypatch.undo()
    assert failed.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("seq2seq-demo-corpus: error: [Errno 28] No space left on device")
    assert len(err.splitlines()) == 1
    assert {path.name: path.read_bytes() for path in out.iterdir()} == before


@pytest.mark.parametrize(("bad", "message"), [
    (["--train", "3000000"], "at most 2,000,000, got 3000000"),
    (["--seed", "-1"], "argument --seed: must be a whole number >= 0, got '-1'"),
    (["--train", "abc"], "argument --train: must be a whole number >= 0, got 'abc'"),
])
def test_sizes_and_seeds_it_cannot_honour_are_one_line_usage_errors(tmp_path, capsys, bad,
                                                                    message):
    with pytest.raises(SystemExit) as refused:
        main([str(tmp_path / "demo"), *bad])
    assert refused.value.code == 2
    assert message in capsys.readouterr().err.splitlines()[-1]
    assert not (tmp_path / "demo").exists()


def test_an_output_folder_it_cannot_write_is_one_line(tmp_path, capsys):
    blocker = tmp_path / "afile"
    blocker.write_text("not a folder\n")
    with pytest.raises(SystemExit) as failed:
        main([str(blocker / "sub"), *SMALL])
    assert failed.value.code == 1
    err = capsys.readouterr().err
    assert err == f"seq2seq-demo-corpus: error: [Errno 20] Not a directory: '{blocker / 'sub'}'\n"
    with pytest.raises(SystemExit) as empty:
        main(["", *SMALL])
    assert empty.value.code == 2


def test_a_dangling_link_in_the_folder_counts_as_a_file_there(tmp_path):
    (tmp_path / "train.en").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError, match="train.en"):
        write_corpus(tmp_path, {"train": 3, "validation": 2, "test": 2})
    assert not (tmp_path / "elsewhere").exists()
