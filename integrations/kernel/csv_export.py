"""CSV exports (codes, reports), streamed, with text cells a spreadsheet would run as a formula
neutralised as API.md says: a leading `'` before `=`, `+`, `-`, `@`, tab or carriage return.
Numbers and amounts the server writes (ints, Decimals) stay numbers."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


class _Echo:
    """A file whose write hands back what csv.writer wrote, for streaming."""

    def write(self, value):
        return value


def csv_response(rows: Iterable[Iterable], *, filename: str) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    response = StreamingHttpResponse(
        (writer.writerow([csv_cell(cell) for cell in row]) for row in rows), content_type="text/csv"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
