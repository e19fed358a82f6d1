"""Teams is configured by its app ID; with it, the tenant and the secret are required, and the
secret is never repeated back."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import Settings, problems

APP = "00000000-0000-4000-8000-0000000000b0"
TENANT = "00000000-0000-4000-8000-00000000aaaa"


def test_without_an_app_id_teams_is_not_configured() -> None:
    settings = Settings.model_validate({})
    assert not settings.teams_configured
    assert settings.teams_openid_url == (
        "https://login.botframework.com/v1/.well-known/openidconfiguration"
    )


def test_an_app_id_needs_its_tenant_and_secret() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"TEAMS_APP_ID": APP, "TEAMS_APP_SECRET": "s3cret"})
    [problem] = problems(refused.value)
    assert problem.variable == "TEAMS_TENANT_ID"
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate({"TEAMS_APP_ID": APP, "TEAMS_TENANT_ID": TENANT})
    [problem] = problems(refused.value)
    assert problem.variable == "TEAMS_APP_SECRET"


def test_a_bad_openid_address_is_refused_and_a_secret_never_shown() -> None:
    with pytest.raises(ValidationError) as refused:
        Settings.model_validate(
            {"TEAMS_OPENID_URL": "login.example", "TEAMS_APP_SECRET": {"not": "text"}}
        )
    found = {p.variable: p for p in problems(refused.value)}
    assert found["TEAMS_OPENID_URL"].value == "'login.example'"
    assert found["TEAMS_APP_SECRET"].value == "(not shown)"


def test_configured_with_all_three() -> None:
    settings = Settings.model_validate(
        {"TEAMS_APP_ID": APP, "TEAMS_TENANT_ID": TENANT, "TEAMS_APP_SECRET": "s3cret"}
    )
    assert settings.teams_configured
