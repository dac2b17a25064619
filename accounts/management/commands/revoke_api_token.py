"""Revoke API tokens: one by its prefix, or every token of a user."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken
from accounts.services import token_revoke


class Command(BaseCommand):
    help = "Revoke an API token by its first 8 characters (--prefix), or all of a user's tokens (--username)."

    def add_arguments(self, parser: Any) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--prefix", help="The token's first 8 characters (or the whole token).")
        target.add_argument("--username", help="Revoke every active token of this user.")

    def handle(self, *args: Any, **options: Any) -> None:
        tokens = ApiToken.objects.select_related("user").filter(revoked_at__isnull=True)
        if options["prefix"]:
            tokens = tokens.filter(key_prefix=options["prefix"][:8])
        else:
            tokens = tokens.filter(user__username=options["username"])
        found = list(tokens)
        if not found:
            raise CommandError("no active token matches")
        for token in found:
            token_revoke(token=token)
            self.stdout.write(f"Revoked {token.key_prefix}… of {token.user.get_username()}.")
