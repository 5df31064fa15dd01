"""FixSession.has_code, a stored generated column (the database keeps it whatever writes current_code), and a
partial index of the verified sessions with code by translation: the verified references are then told from
blank code without reading any program text (evaluate.metrics.codebleu.verified_references).

SQLite adds the column by copying the table, which drops the table's planner statistics, and PostgreSQL has
none for the new column: the statistics are restored afterwards (planner_statistics.restore)."""

from django.db import migrations, models

import annotate.models
from t2j_site import planner_statistics


def analyze_sessions(apps, schema_editor):
    planner_statistics.restore(apps.get_model("annotate", "FixSession"), using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0012_similarity_ranking_cache_table"),
    ]

    operations = [
        migrations.AddField(
            model_name="fixsession",
            name="has_code",
            field=models.GeneratedField(
                db_persist=True,
                expression=annotate.models.HasText("current_code"),
                output_field=models.BooleanField(),
            ),
        ),
        migrations.AddIndex(
            model_name="fixsession",
            index=models.Index(
                condition=models.Q(("has_code", True), ("status", "verified")),
                fields=["translation"],
                name="fixsession_references",
            ),
        ),
        migrations.RunPython(analyze_sessions, migrations.RunPython.noop),
    ]
