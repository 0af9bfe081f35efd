"""Reports: the figures supervisors judge units by, the 督查周报 and the 月讲评.

``reports`` imports only ``ledger``. Every figure comes from one function,
:func:`reports.figures.compute_figures`; the definitions are in README.md ("统计口径").
"""
