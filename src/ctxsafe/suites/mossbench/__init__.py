"""MOSSBench: multimodal over-sensitivity (benign image+question items, harmful contrast items on the same images)."""
