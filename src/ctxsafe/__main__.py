from ctxsafe.cli import app

app(prog_name="ctxsafe")
