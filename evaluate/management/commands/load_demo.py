"""`manage.py load_demo`: lives in evaluate because it loads both apps' parts of the demo (evaluate.demo)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from annotate.demo import DemoDataError
from evaluate.demo import load_demo


class Command(BaseCommand):
    help = "Load the demo data set from fixtures/demo (idempotent) and create the demo users if missing."

    def handle(self, *args, **options) -> None:
        try:
            # Per-sample lines only when asked for (-v 2); the summary line is always printed.
            result = load_demo(stdout=self.stdout if options["verbosity"] >= 2 else None)
        except DemoDataError as exc:
            raise CommandError(f"demo data not loaded: {exc}") from exc
        for username, role, password in result["new_users"]:
            self.stdout.write(f"{role:10} {username:6} password: {password}")
        self.stdout.write(
            "demo loaded: {samples} samples, {translations} translations, {sessions} sessions, "
            "{steps} steps, {comparisons} comparisons created".format(**result)
        )
