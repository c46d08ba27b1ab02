from django.urls import reverse


def test_home_needs_a_login(client, db):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_home_shows_the_week_per_tier_and_warns_of_unclassified_models(
    client, reviewer, make_decision
):
    make_decision("gpt-4o-mini")
    make_decision("claude-sonnet-4-5")
    make_decision("acme-internal-13b")
    client.force_login(reviewer)
    response = client.get(reverse("home"))
    body = response.content.decode()
    assert response.status_code == 200
    assert response.context["total_calls"] == 3
    assert response.context["unclassified_calls"] == 1
    assert "acme-internal-13b" in body and "Unclassified models" in body


def test_prompts_are_escaped_on_the_page(client, reviewer, make_decision):
    make_decision(prompt_text='<script>alert("x")</script><img src=x onerror=alert(1)>')
    client.force_login(reviewer)
    body = client.get(reverse("home")).content.decode()
    assert "<script>alert" not in body
    assert "<img src=x" not in body
    assert "&lt;script&gt;alert" in body


def test_healthz_answers_when_the_database_does(client, db):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.content == b"ok\n"
