"""Login, the one-time setup, the caller's token, and tokens (admin)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request

from hyperhub.api.errors import ApiError
from hyperhub.api.models import (
    Done,
    LoginBody,
    LoginOut,
    MeOut,
    NewTokenBody,
    NewTokenOut,
    SetupBody,
    SetupState,
    TokenOut,
)
from hyperhub.api.security import Admin, Caller, Ctx, client_address
from hyperhub.auth import SCOPES, Token, UnknownToken
from hyperhub.auth.store import LOGIN_TTL

router = APIRouter(prefix="/api", tags=["auth"])


def _scopes(token: Token) -> list[str]:
    return sorted(token.scopes, key=SCOPES.index)


@router.post("/auth/login", response_model=LoginOut)
async def login(ctx: Ctx, request: Request, body: LoginBody) -> LoginOut:
    """A 30-day token with the user's scopes (admin: all). 10 tries a minute per address."""
    ctx.login_limit.take(client_address(request))
    secret, token, user = await asyncio.to_thread(ctx.auth.login, body.username, body.password)
    return LoginOut(token=secret, scopes=_scopes(token), user=user.name, expires=token.expires)


@router.get("/auth/setup", response_model=SetupState)
async def setup_state(ctx: Ctx) -> SetupState:
    """Whether the hub still needs its first admin (the login page then shows setup)."""
    return SetupState(needed=ctx.auth.setup_needed())


@router.post("/auth/setup", response_model=LoginOut)
async def setup(ctx: Ctx, request: Request, body: SetupBody) -> LoginOut:
    """Create the first admin with the one-time setup code `hyperhub run` printed."""
    ctx.login_limit.take(client_address(request))
    user = await asyncio.to_thread(ctx.auth.setup_admin, body.code, body.username, body.password)
    secret, token = ctx.auth.create_token(user.name, user.scopes, user=user.name, ttl=LOGIN_TTL)
    return LoginOut(token=secret, scopes=_scopes(token), user=user.name, expires=token.expires)


@router.get("/auth/me", response_model=MeOut)
async def me(token: Caller) -> MeOut:
    """The calling token: its name, user and scopes."""
    return MeOut(id=token.id, name=token.name, user=token.user, scopes=_scopes(token))


@router.post("/auth/logout", response_model=Done)
async def logout(ctx: Ctx, token: Caller) -> Done:
    """Revoke the calling token."""
    ctx.auth.revoke(token.id)
    return Done(ok=True)


@router.get("/tokens", response_model=list[TokenOut], tags=["admin"])
async def list_tokens(ctx: Ctx, token: Admin) -> list[dict[str, object]]:
    """Every token, newest first (never their secrets)."""
    return [t.as_dict() for t in ctx.auth.tokens()]


@router.post("/tokens", response_model=NewTokenOut, tags=["admin"])
async def create_token(ctx: Ctx, token: Admin, body: NewTokenBody) -> dict[str, object]:
    """A new token; its secret is in this answer only."""
    secret, created = ctx.auth.create_token(body.name, body.scopes)
    return {**created.as_dict(), "token": secret}


@router.delete("/tokens/{token_id}", response_model=TokenOut, tags=["admin"])
async def revoke_token(ctx: Ctx, token: Admin, token_id: str) -> dict[str, object]:
    """Revoke a token now (requests with it get 401 from now on)."""
    try:
        return ctx.auth.revoke(token_id).as_dict()
    except UnknownToken as exc:
        raise ApiError(404, "unknown_token", str(exc)) from None
