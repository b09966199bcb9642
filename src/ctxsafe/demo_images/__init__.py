"""Demo images composed offline from photos shipped inside installed packages (no download).

Shared by the bundled demo suites; `recipe.render_recipe` turns a JSON recipe into an image.
"""
