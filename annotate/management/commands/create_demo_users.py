from __future__ import annotations

from django.core.management.base import BaseCommand

from annotate.demo import ensure_demo_users


class Command(BaseCommand):
    help = "Create one demo user per role (dev, rev, boss; rev2, a second reviewer) and print the new ones' passwords."

    def handle(self, *args, **options) -> None:
        created = ensure_demo_users()
        for username, role, password in created:
            if password:
                self.stdout.write(f"{role:10} {username:6} password: {password}")
            else:
                self.stdout.write(f"{role:10} {username:6} already exists; password unchanged")
