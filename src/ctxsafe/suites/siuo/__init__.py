"""SIUO: safe image + safe text whose combination is unsafe (generation split)."""
