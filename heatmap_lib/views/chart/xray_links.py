"""The X-Ray page of an account: its file name (`xray_file_name`) and the href that links to it (`xray_link`)."""

from __future__ import annotations

MAX_XRAY_STEM = 200  # bytes of an X-Ray page's file name before ".html" (file systems allow 255)


def _xray_stem(account_id: str) -> str:
    """The URL-quoted id (no "/"); an id too long for a file name is cut and made unique by a hash of it."""
    import hashlib
    from urllib.parse import quote

    stem = quote(str(account_id), safe="")
    if len(stem) <= MAX_XRAY_STEM:
        return stem
    head = stem[:150]
    head = head[: head.rfind("%")] if "%" in head[-2:] else head  # never cut an escape in half
    return f"{head}-{hashlib.sha256(str(account_id).encode()).hexdigest()[:16]}"


def xray_file_name(pattern: str, account_id: str) -> str:
    """The X-Ray page's file for an account: `pattern` ("{account_id}.html") with the id URL-quoted (no "/").

    An id whose quoted form is longer than `MAX_XRAY_STEM` bytes is cut and suffixed with a hash of the whole id,
    so every account still gets its own page and no name is too long for the file system.
    """
    return pattern.format(account_id=_xray_stem(account_id))


def xray_link(pattern: str, account_id: str) -> str:
    """The href of an account's X-Ray page: its file name (`xray_file_name`) quoted once more.

    A browser percent-decodes an href before it opens the file, so the link must encode the file name itself:
    the page of "A1<b>" is stored as A1%3Cb%3E.html and linked as A1%253Cb%253E.html. Plain ids are unchanged.
    """
    from urllib.parse import quote

    return pattern.format(account_id=quote(_xray_stem(account_id), safe=""))
