"""The 台账: system of record for messages, tickets, deadlines and their history.

``ledger`` imports nothing of the rest of the application.
"""
