"""A stored document as an HTTP answer (the API's PDF routes and the admin's PDF link alike):
application/pdf, its number as the file name, its SHA-256 as a strong ETag (If-None-Match: 304)."""

from django.http import HttpResponse, HttpResponseNotModified
from django.utils.http import parse_etags


def document_response(request, *, document, number: str, inline: bool = False) -> HttpResponse:
    etag = f'"{document.sha256}"'
    if etag in parse_etags(request.headers.get("If-None-Match", "")):
        response = HttpResponseNotModified()
    else:
        response = HttpResponse(document.content, content_type="application/pdf")
        disposition = "inline" if inline else "attachment"
        response["Content-Disposition"] = f'{disposition}; filename="{number}.pdf"'
        response["Content-Length"] = str(len(document.content))
    response["ETag"] = etag
    # Personal data: private to the one who asked; it never changes, so they may keep it.
    response["Cache-Control"] = "private, max-age=86400"
    return response
