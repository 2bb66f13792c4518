"""Modules put on the context process's ``sys.path`` (``damnit_ctx``, the entry script).

A package only so that installing shiftdesk ships these files; nothing imports it as
``shiftdesk.runtable.context.ctxsupport``.
"""
