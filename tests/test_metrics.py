import pytest
import sacrebleu
from sacrebleu.metrics import BLEU, CHRF, TER

from seq2seq.metrics import corpus_scores, format_scores

HYPOTHESES = ["The cat sat on a mat .", "a dog ran home", "Hello world", ""]
REFERENCES = ["The cat sat on the mat .", "A dog runs home .", "hello world !", "nothing"]
SECOND_REFERENCES = ["A cat sat on the mat .", "a dog ran home", "Hello, world!", ""]


def test_scores_and_signatures_are_sacrebleus():
    scores = corpus_scores(HYPOTHESES, [REFERENCES])
    assert list(scores) == ["bleu", "chrf", "ter"]
    for name, metric in (("bleu", BLEU()), ("chrf", CHRF()), ("ter", TER())):
        expected = metric.corpus_score(HYPOTHESES, [REFERENCES])
        signature = str(metric.get_signature())
        assert scores[name]["score"] == pytest.approx(expected.score)
        assert scores[name]["signature"] == signature
        assert scores[name]["text"] == expected.format(signature=signature)
    assert f"version:{sacrebleu.__version__}" in scores["bleu"]["signature"]
    assert "tok:13a" in scores["bleu"]["signature"]


def test_options_reach_the_metrics():
    scores = corpus_scores(HYPOTHESES, [REFERENCES], metrics=("bleu", "chrf"),
                           tokenize="intl", lowercase=True)
    assert list(scores) == ["bleu", "chrf"]
    bleu = BLEU(tokenize="intl", lowercase=True).corpus_score(HYPOTHESES, [REFERENCES])
    assert scores["bleu"]["score"] == pytest.approx(bleu.score)
    assert "case:lc" in scores["bleu"]["signature"] and "tok:intl" in scores["bleu"]["signature"]
    assert scores["chrf"]["score"] == pytest.approx(
        CHRF(lowercase=True).corpus_score(HYPOTHESES, [REFERENCES]).score)
    assert scores["bleu"]["score"] != pytest.approx(corpus_scores(HYPOTHESES, [REFERENCES])
                                                    ["bleu"]["score"])


def test_several_reference_sets():
    scores = corpus_scores(HYPOTHESES, [REFERENCES, SECOND_REFERENCES])
    expected = BLEU().corpus_score(HYPOTHESES, [REFERENCES, SECOND_REFERENCES])
    assert scores["bleu"]["score"] == pytest.approx(expected.score)
    assert "nrefs:2" in scores["bleu"]["signature"]
    assert scores["bleu"]["score"] > corpus_scores(HYPOTHESES, [REFERENCES])["bleu"]["score"]


def test_line_count_mismatch_names_the_files():
    with pytest.raises(ValueError, match="hyp.txt has 4 lines but ref2.txt has 3"):
        corpus_scores(HYPOTHESES, [REFERENCES, SECOND_REFERENCES[:3]],
                      hypotheses_name="hyp.txt", reference_names=["ref1.txt", "ref2.txt"])
    with pytest.raises(ValueError, match="reference set 1 has 1"):
        corpus_scores(HYPOTHESES, [REFERENCES[:1]])


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown metrics"):
        corpus_scores(HYPOTHESES, [REFERENCES], metrics=("bleu", "meteor"))
    with pytest.raises(ValueError, match="at least one reference"):
        corpus_scores(HYPOTHESES, [])


def test_format_scores_prints_one_report_line_per_metric():
    scores = corpus_scores(HYPOTHESES, [REFERENCES])
    lines = format_scores(scores).splitlines()
    assert len(lines) == 3
    for line, name, result in zip(lines, ("BLEU|", "chrF2|", "TER|"), scores.values()):
        assert line.startswith(name + result["signature"])
        assert f"= {result['score']:.2f}" in line
