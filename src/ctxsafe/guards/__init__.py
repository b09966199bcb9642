"""Guard adapters: moderation models that read a conversation and return one normalised verdict."""
