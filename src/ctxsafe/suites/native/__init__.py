"""The native JSONL suite: users' own paired, multi-turn, image-bearing test cases."""
