"""Refused requests (400): say which limit the request hit and what to do, instead of a bare "Bad Request".

Django raises RequestDataTooBig, TooManyFieldsSent and TooManyFilesSent (SuspiciousOperation) when a view or
the CSRF check first reads a body over the DATA_UPLOAD_* limits, and MultiPartParserError for a broken upload;
all of them reach `bad_request` (the site's handler400). Scripts (the editor's autosave asks for JSON) and
htmx requests get JSON; pages get an HTML page. Nothing was read, so nothing was written.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    SuspiciousOperation,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat

NOTHING_SAVED = "Nothing was saved."


@dataclass(frozen=True)
class Refusal:
    """Why a request was refused: a short code for scripts, what happened (the limit), and what to do."""

    error: str
    message: str
    advice: str


class NulInQuery(SuspiciousOperation):
    """A query-string parameter holds a NUL character, which no lookup matches and PostgreSQL text cannot hold."""


def refuse_nul_in_query(get_response):
    """Middleware: a NUL in any query-string parameter (a search, a filter, a sample key) is a 400 that says so,
    before a view looks it up (PostgreSQL raised DataError, a 500, where SQLite found nothing). Posted forms
    check their own texts, so a refused form keeps what was typed."""

    def middleware(request: HttpRequest) -> HttpResponse:
        if any("\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            raise NulInQuery("NUL in the query string")
        return get_response(request)

    return middleware


def refusal_for(request: HttpRequest, exception: Exception | None) -> Refusal:
    if isinstance(exception, RequestDataTooBig):
        return Refusal(
            "request-too-large",
            f"The request carried {_body_size(request)}; this site takes at most "
            f"{filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)} of form data in one request "
            f"(T2J_UPLOAD_MAX_MEMORY_BYTES). {NOTHING_SAVED}",
            "Send less at once: keep a program or a fix step's texts well under that size; import large data "
            "sets as a file on the Dataset page or with manage.py import_dataset. Code you were editing is "
            "still in the editor.",
        )
    if isinstance(exception, TooManyFieldsSent):
        return Refusal(
            "too-many-fields",
            f"The form sent more than {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields, the most this site "
            f"reads from one request. {NOTHING_SAVED}",
            "Send fewer fields at once (split the change in parts). If a page of this site sent it, reload the "
            "page and try again.",
        )
    if isinstance(exception, TooManyFilesSent):
        return Refusal(
            "too-many-files",
            f"The upload held more than {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files, the most this site takes "
            f"in one request. {NOTHING_SAVED}",
            "Upload fewer files at a time, or put the records in one JSON or JSONL file.",
        )
    if isinstance(exception, MultiPartParserError):
        return Refusal(
            "unreadable-upload",
            f"The upload could not be read: {exception}. {NOTHING_SAVED}",
            "Upload the file again from the page's form.",
        )
    if isinstance(exception, NulInQuery):
        return Refusal(
            "nul-in-query",
            f"The address holds a NUL character (%00), which no name, key or search can contain. {NOTHING_SAVED}",
            "Remove it from the address, or go back and use the page's own links and forms.",
        )
    if isinstance(exception, SuspiciousOperation):
        return Refusal(
            "refused", f"The request was refused as unsafe. {NOTHING_SAVED}", "Reload the page and try again."
        )
    return Refusal(
        "bad-request", f"The request could not be understood. {NOTHING_SAVED}", "Reload the page and try again."
    )


def _body_size(request: HttpRequest) -> str:
    try:
        size = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        size = 0
    return filesizeformat(size) if size else "more than that"


def _wants_json(request: HttpRequest) -> bool:
    return (
        request.headers.get("HX-Request") == "true"
        or "application/json" in request.headers.get("Accept", "")
        or request.content_type == "application/json"
    )


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """The site's handler400: JSON `{"ok": false, "error", "message", "advice"}` or the 400 page."""
    refusal = refusal_for(request, exception)
    if _wants_json(request):
        return JsonResponse({"ok": False, **asdict(refusal)}, status=400)
    return render(request, "400.html", {"refusal": refusal}, status=400)
