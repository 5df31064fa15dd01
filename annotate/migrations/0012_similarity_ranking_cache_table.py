"""The similar-fix rankings' cache table (settings.CACHES["similarity"], read by annotate.similarity.ranked_steps
on every T2J prompt): made by `migrate` itself, so a database the app runs on has it without a separate
`createcachetable` (worker hosts, the multi-host test, the benches)."""

from django.conf import settings
from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    location = settings.CACHES.get("similarity", {}).get("LOCATION")
    if location:  # idempotent: a table already there is left alone
        call_command("createcachetable", location, database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0011_review_and_queue_indexes"),
    ]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
