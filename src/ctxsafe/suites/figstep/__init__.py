"""FigStep: typographic jailbreaks, the harmful instruction rendered into an image at load time."""
