"""Training recipe for learned tokenizers: ``tzoo train-tokenizer --config FILE.yaml``."""
