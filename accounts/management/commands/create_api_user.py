"""Create an API user (if needed) with a role, and print a new token as the last word."""
from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Role
from accounts.services import AccountError, api_user_create


class Command(BaseCommand):
    help = (
        "Create an API user if needed, set their role (lab member of --organisation, or regulator) and issue a "
        "bearer token. The token is shown once, as the last word of the output; only its SHA-256 is stored."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--username", required=True)
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument("--organisation", help="The lab's organisation slug (required for --role lab).")
        parser.add_argument("--token-name", default="", help="A label for the token, e.g. the system using it.")

    def handle(self, *args: Any, **options: Any) -> None:
        role, slug = options["role"], options["organisation"]
        if role == Role.REGULATOR and slug:
            self.stderr.write(f"note: regulators read every organisation; --organisation {slug} is not recorded")
        try:
            user, created, token, key = api_user_create(
                username=options["username"], role=role, organisation_slug=slug if role == Role.LAB else None,
                token_name=options["token_name"],
            )
        except AccountError as exc:
            raise CommandError(str(exc)) from exc
        where = f" of {slug}" if role == Role.LAB else ""
        self.stdout.write(f"{'Created' if created else 'Found'} user {user.get_username()} ({role}{where}).")
        self.stdout.write(f"Token {token.key_prefix}… issued; it is shown only now:")
        self.stdout.write(key)
