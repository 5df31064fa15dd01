"""manage.py rebuild_similarity_index: index every fix step again (after a change to the tokenizer or taxonomy)."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from annotate import similarity_index


class Command(BaseCommand):
    help = "Drop the similar-fix index and index every fix step again, in one transaction."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--database", default="default", help="database alias (default: default)")

    def handle(self, *args, database: str, **options) -> None:
        started = time.perf_counter()
        count = similarity_index.rebuild(using=database)
        self.stdout.write(f"indexed {count} fix steps in {time.perf_counter() - started:.1f} s")
