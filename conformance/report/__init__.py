"""The conformance report: one data model (:mod:`.model`), tallied from a run's test reports
(:mod:`.tally`) and written as a console table, JSON, Markdown and a self-contained HTML page
(:mod:`.render`). docs/report.md describes the JSON schema, the statuses and the verdict.
"""

from .model import (
    CHECKS,
    EXIT_CODES,
    FAILURES,
    REPORT_ATTRIBUTE,
    SCHEMA,
    STATUSES,
    build,
    cell_status,
    environment,
    summed,
    verdict,
)
from .render import (
    check_writable,
    counts_text,
    failure_text,
    render_text,
    render_verdict,
    to_html,
    to_json,
    to_markdown,
    write,
)
from .tally import Summary, describe_nodeid, message_of, skip_reason, status_of

__all__ = [
    "CHECKS", "EXIT_CODES", "FAILURES", "REPORT_ATTRIBUTE", "SCHEMA", "STATUSES", "Summary", "build", "cell_status",
    "check_writable", "counts_text", "describe_nodeid", "environment", "failure_text", "message_of", "render_text",
    "render_verdict", "skip_reason", "status_of", "summed", "to_html", "to_json", "to_markdown", "verdict", "write",
]
