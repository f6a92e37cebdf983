"""The tokenization service (installed as ``tokenizers_zoo.service``).

- ``tzoo serve`` / ``server.serve``: FastAPI + uvicorn; ``app.create_app`` builds the app.
- ``client``: the Python SDK (``Client``, ``AsyncClient``), importing no torch.
- ``wire``: the JSON / ``.npy`` forms of tokens both sides speak.

Importing this package imports nothing else, so ``tokenizers_zoo.service.client`` stays light.
"""
