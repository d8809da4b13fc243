"""Users, API tokens and scopes, in `<data_dir>/auth.db` (no web framework needed: the CLI's
`hyperhub token …` and `hyperhub user …` use it as the API does).

    auth = AuthStore(data_dir)
    secret, token = auth.create_token("kitchen tablet", {"read", "control"})
    auth.verify(secret)  # -> the Token, or raises AuthError (unknown, revoked, expired)
"""

from hyperhub.auth.store import (
    ALL_SCOPES,
    SCOPES,
    AuthError,
    AuthStore,
    Token,
    UnknownToken,
    User,
    parse_scopes,
)

__all__ = [
    "ALL_SCOPES",
    "SCOPES",
    "AuthError",
    "AuthStore",
    "Token",
    "UnknownToken",
    "User",
    "parse_scopes",
]
