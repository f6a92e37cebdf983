"""Next-token-prediction models over zoo tokens: ``vocabulary.py`` (which id means what),
``sequence.py`` (text and media codes as one sequence, per format, with loss masks),
``constraints.py`` (the ids a format allows next, for decoding), ``data.py`` (training
batches from a text corpus or a token dataset), ``model.py`` (a decoder-only transformer
with a KV cache), ``positions.py`` (the (row, column) of each id, for 2-D RoPE),
``heads.py`` (regression and diffusion heads for continuous tokens), ``text.py`` (text
vocabularies and corpora), ``train.py`` (the trainer), ``sample.py`` (sampling,
classifier-free guidance), ``decode.py`` (sequences back to media), ``generate.py`` (a
checkpoint and a prompt to texts, images or audio: what ``tzoo sample`` and the service
run), ``distributed.py`` (the trainer under torchrun) and ``router.py`` (task tokens to
experts)."""
