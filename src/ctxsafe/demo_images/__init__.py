"""Demo images composed offline from public-domain/CC0 photos shipped inside ctxsafe (`photos/`; no download).

Shared by the bundled demo suites; `recipe.render_recipe` turns a JSON recipe into an image.
"""
