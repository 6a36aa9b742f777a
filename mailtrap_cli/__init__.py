"""``mailtrap``: the command line for an account's users, over the public API (seed-C §6).

A client of the HTTP API like the SDKs, sharing no code with the server: ``configure``
(check a token, find its account, save both to ``~/.mailtrap.yaml``) and ``stats``. Run it
as ``python -m mailtrap_cli`` (the README shows a ``mailtrap`` alias).
"""
