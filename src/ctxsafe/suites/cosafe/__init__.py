"""CoSafe: multi-turn coreference attacks, earlier turns replayed verbatim, the final one answered."""
