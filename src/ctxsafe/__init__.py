"""ctxsafe: contextual-safety evaluation of multimodal LLMs."""

__version__ = "0.1.0"
