"""The package import stays light: the GRU and model load neither sentencepiece nor Lightning."""

import subprocess
import sys


def test_importing_the_gru_and_model_loads_no_tokenizer_checkpoint_or_training_code():
    code = ("import sys, seq2seq.gru, seq2seq.model; "
            "print(sorted(m for m in ('sentencepiece', 'pytorch_lightning', 'seq2seq.translator', "
            "'seq2seq.checkpoint') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_translator_is_still_importable_from_the_package():
    from seq2seq import Translator
    from seq2seq.translator import Translator as defined

    assert Translator is defined
