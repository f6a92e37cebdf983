"""The REST service (installed as ``tokenizers_zoo.service``).

Reserved for the tokenization service of its own issue (FastAPI app, dynamic
batching, client SDK). Nothing is served yet: ``make serve`` runs ``tzoo demo``.
"""
