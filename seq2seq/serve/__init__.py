"""Translation over HTTP: ``seq2seq-serve`` (:mod:`seq2seq.serve.cli`), the FastAPI app
(:mod:`seq2seq.serve.app`) and the dynamic batcher it translates with
(:mod:`seq2seq.serve.batcher`). The page at ``/`` is ``static/index.html``.
"""
