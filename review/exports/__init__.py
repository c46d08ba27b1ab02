"""Exports for retraining a router: the explorer's rows as files, written by jobs.

``records``: which decisions (the explorer's filters, in the explorer's order, a chunk at a time)
and what each row holds. ``formats``: the file formats, each a streaming writer. ``jobs``: the
export as a job (create, run with progress, cancel, expire, sweep). See docs/exports.md.
"""
