"""People for the page and API tests: a user in a role, and a browser client signed in as them."""

from django.contrib.auth.models import Group, User
from django.test import Client

from review import roles

PASSWORD = "correct horse battery"


def person(username: str, role: str | None) -> User:
    """A user in ``role`` (one of ``review.roles``), or in none. Fetched again so the
    permission cache reflects the group."""
    roles.ensure_roles()
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return User.objects.get(pk=user.pk)


def client_for(user: User) -> Client:
    """A client with ``user``'s session, as a browser after logging in."""
    client = Client()
    client.force_login(user)
    return client
