from django.db import migrations

from annotate.append_only import append_only_operation

ROLES = ("developer", "reviewer", "admin")


def create_role_groups(apps, schema_editor) -> None:
    Group = apps.get_model("auth", "Group")
    for name in ROLES:
        Group.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [
        ("annotate", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]

    operations = [
        migrations.RunPython(create_role_groups, migrations.RunPython.noop),
        append_only_operation("annotate_fixstep"),
        append_only_operation("annotate_sessionevent"),
    ]
