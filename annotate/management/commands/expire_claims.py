from __future__ import annotations

from django.conf import settings
from django.core.management.base import BaseCommand

from annotate.fixlog import expire_stale_claims


class Command(BaseCommand):
    help = "Return to the queue every open fix session idle longer than T2J_CLAIM_EXPIRY_HOURS (run it from cron)."

    def handle(self, *args, **options) -> None:
        expired = expire_stale_claims()
        hours = settings.T2J_CLAIM_EXPIRY_HOURS
        self.stdout.write(f"{expired} claim{'s' if expired != 1 else ''} idle over {hours} h returned to the queue")
