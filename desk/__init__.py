"""The desk: the verbs and the rules every front end (chat, CLI, web) calls.

``desk.tickets`` holds one function per workflow step (交办, 签收, 反馈, 延期, 退回, 核查,
续办, 通报, 归档, 备注): one transaction each, permission and duty checks inside, the
outbox rows that tell the next person written in the same transaction, and the bot nudged
after the commit. ``desk.permissions`` says who may see and act on a ticket;
``desk.queries`` gives the typed read models (rows, detail, to-do lists). Front ends never
write the ledger another way.
"""
