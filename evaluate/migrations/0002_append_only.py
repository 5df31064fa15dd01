from django.db import migrations

from annotate.append_only import append_only_operation


class Migration(migrations.Migration):
    dependencies = [("evaluate", "0001_initial")]

    operations = [
        append_only_operation("evaluate_comparison"),
        append_only_operation("evaluate_judgement"),
    ]
