"""Contract editor pages for admins; included at path("contracts/", include("annotate.contract_urls"))."""

from django.urls import path

from annotate import contract_views as views

app_name = "contracts"

urlpatterns = [
    path("", views.contract_list, name="contract_list"),
    path("<slug:key>/", views.contract_edit, name="contract_edit"),
    path("<slug:key>/check/", views.contract_check, name="contract_check"),
]
