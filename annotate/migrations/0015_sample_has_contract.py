"""Sample.has_contract, a stored generated column (the database keeps it whatever writes the contract), and a
partial index of the samples without one in the list's order: the contracts page names them without reading
every sample's contract text (annotate.views.contracts.contract_list). Statistics restored afterwards, as in 0013."""

from django.db import migrations, models

import annotate.models
from t2j_site import planner_statistics


def analyze_samples(apps, schema_editor):
    planner_statistics.restore(apps.get_model("annotate", "Sample"), using=schema_editor.connection.alias)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0014_run_latest_batch_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="sample",
            name="has_contract",
            field=models.GeneratedField(
                db_persist=True, expression=annotate.models.HasText("contract"), output_field=models.BooleanField()
            ),
        ),
        migrations.AddIndex(
            model_name="sample",
            index=models.Index(
                condition=models.Q(("has_contract", False)),
                fields=["import_position", "key"],
                name="sample_without_contract",
            ),
        ),
        migrations.RunPython(analyze_samples, migrations.RunPython.noop),
    ]
