"""督办事项: leaders' key tasks (重点工作, 周交办, 责任清单) from 立项 to 销号.

``tasks.workflow`` is the state machine (a table of moves, as ``ledger.tickets`` is for
tickets), ``tasks.colours`` the 红/黄/蓝/绿 status on the working-day calendar,
``tasks.deadlines`` reads deadlines as offices write them, ``tasks.importer`` reads the
lists offices keep, ``tasks.scores`` gives the 月讲评 task scores and ``tasks.summary``
the 督查周报's section (the printed 督办通知单 and 一事一档 are written by
``desk.task_documents``). Front ends call ``desk.tasks``, never these directly to change a
task.
"""
