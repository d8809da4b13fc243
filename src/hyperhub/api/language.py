"""The language an answer speaks: the request's `Accept-Language` ("zh…" → Chinese, else
English), for sentences, names and error messages alike."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request, Response

from hyperhub.spec.words import Lang, lang_of


def lang_in(request: Request) -> Lang:
    """The language a request asks its answers in: "en" or "zh"."""
    return lang_of(request.headers.get("accept-language"))


async def language(
    response: Response, accept_language: Annotated[str | None, Header()] = None
) -> Lang:
    """A route's dependency: the language of its answer's sentences (said in
    Content-Language; Vary tells caches the answer depends on it)."""
    lang = lang_of(accept_language)
    response.headers["Content-Language"] = lang
    response.headers["Vary"] = "Accept-Language"
    return lang


Language = Annotated[str, Depends(language)]
