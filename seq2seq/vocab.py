"""The vocabulary contract: the special ids every subword model, batch and model share.

PAD pads batches (ignored by the loss, a zero embedding), UNK stands for unknown pieces,
BOS starts every target (``tgt_in``) and EOS ends it (``tgt_out``). Tokenizers are trained
with exactly these ids and refuse a model that has others.
"""

PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
SPECIAL_IDS = (PAD_ID, UNK_ID, BOS_ID, EOS_ID)
