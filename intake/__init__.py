"""Intake: pasted, forwarded and imported material becomes stored messages.

Parse, clean, normalise, dedupe and redact; then routing opens the tickets. ``intake``
imports ``ledger`` and the classifier's ``normalise`` (the one text normalisation).
"""
