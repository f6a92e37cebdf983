"""Next-token-prediction models over zoo tokens: ``model.py`` (a decoder-only transformer
with a KV cache), ``text.py`` (text vocabularies and corpora), ``train.py`` (the trainer),
``sample.py`` (sampling)."""
