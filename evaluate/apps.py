from django.apps import AppConfig


class EvaluateConfig(AppConfig):
    name = "evaluate"
    verbose_name = "Evaluate"
    default_auto_field = "django.db.models.BigAutoField"
