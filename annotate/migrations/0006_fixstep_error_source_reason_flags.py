"""Fix steps say where their error came from, why their category was chosen, and which hygiene flags they carry.

Steps recorded before have an empty error source and reason and no flags (they are append-only: nothing is
back-filled). SQLite adds these columns by rebuilding the table, which drops its append-only trigger: it is
put back at the end.
"""

from django.db import migrations, models

from annotate.append_only import reinstall_append_only_operation


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0005_volume_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="fixstep",
            name="category_reason",
            field=models.TextField(blank=True, help_text="Why the category was chosen (suggestion or person)"),
        ),
        migrations.AddField(
            model_name="fixstep",
            name="error_source",
            field=models.CharField(
                blank=True,
                choices=[
                    ("run", "a JAX run's exception"),
                    ("contract", "a contract run's first mismatch"),
                    ("written", "written by the developer"),
                    ("no-error", "no error: behaviour change"),
                    ("imported", "imported (the file does not say)"),
                ],
                help_text="Empty on steps recorded before it existed",
                max_length=10,
            ),
        ),
        migrations.AddField(
            model_name="fixstep",
            name="flags",
            field=models.JSONField(blank=True, default=list),
        ),
        reinstall_append_only_operation("annotate_fixstep"),
    ]
