from ctxsafe.cli import app

app()
