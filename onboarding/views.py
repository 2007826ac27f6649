from django.http import FileResponse, Http404, HttpRequest

from onboarding.jd import document_from_token


def document_download(request: HttpRequest, token: str) -> FileResponse:
    """A JD file behind a signed, expiring link: what draup-world downloads for `jd_uri`."""
    doc = document_from_token(token)
    if doc is None or not doc.file:
        raise Http404("This link is invalid or has expired.")
    return FileResponse(doc.file.open("rb"), as_attachment=True, filename=doc.name)
