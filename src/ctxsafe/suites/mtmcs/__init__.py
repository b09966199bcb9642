"""MTMCS-Bench: multi-turn multimodal contextual safety (escalation and context switch)."""
