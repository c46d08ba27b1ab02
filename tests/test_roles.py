from io import StringIO

from django.contrib.auth.models import Group, User
from django.core.management import call_command

from review import roles


def test_roles_are_created_once_each_including_the_one_below(db):
    first = roles.ensure_roles()
    assert roles.ensure_roles() == first
    assert Group.objects.count() == 4
    assert (
        first[roles.VIEWER] < first[roles.REVIEWER] < first[roles.POLICY_OWNER] < first[roles.ADMIN]
    )


def test_what_each_role_may_do(db):
    call_command("setup_roles", stdout=StringIO())
    users = {}
    for role in (roles.VIEWER, roles.REVIEWER, roles.POLICY_OWNER, roles.ADMIN):
        users[role] = User.objects.create_user(role.replace(" ", "-"))
        users[role].groups.add(Group.objects.get(name=role))
    assert users[roles.VIEWER].has_perm("review.view_decision")
    assert not users[roles.VIEWER].has_perm("review.add_label")
    assert users[roles.REVIEWER].has_perm("review.add_label")
    assert not users[roles.REVIEWER].has_perm("review.change_detectorsettings")
    assert users[roles.POLICY_OWNER].has_perm("review.change_detectorsettings")
    assert users[roles.ADMIN].has_perm("review.add_apikey")
    assert users[roles.ADMIN].has_perm("auth.add_user")
    assert not users[roles.POLICY_OWNER].has_perm("review.add_apikey")
