"""MM-SafetyBench: query-relevant images (SD, TYPO, SD+TYPO) with a rephrased harmful question."""
