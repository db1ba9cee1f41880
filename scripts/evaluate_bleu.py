"""Score translations with sacreBLEU: the ``seq2seq-evaluate`` command, run as a script.

    python scripts/evaluate_bleu.py --hypotheses test.hyp.en --references test.en
"""

import sys

from seq2seq.commands.evaluate import main

if __name__ == "__main__":
    sys.exit(main())
