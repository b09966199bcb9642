"""VLSBench: the risk is only in the image; the instruction alone is harmless."""
