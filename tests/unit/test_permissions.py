"""The access rule: account grants reach everything, resource grants reach only their resource."""

from chalicelib.core.permissions import ADMIN, VIEWER, Grant, Principal


def test_account_admin_reaches_every_resource():
    p = Principal(1, 9, "t", (Grant("account", 1, ADMIN),))
    assert p.can(ADMIN, "domain", 42)
    assert p.can(ADMIN, "inbox", 7, parents=(("project", 3),))
    assert p.resource_ids("domain") is None


def test_domain_admin_reaches_only_its_domain():
    p = Principal(1, 9, "example.com token 9", (Grant("domain", 42, ADMIN),))
    assert p.can(ADMIN, "domain", 42)
    assert not p.can(VIEWER, "domain", 43)
    assert not p.is_account_admin()
    assert p.resource_ids("domain") == {42}


def test_project_grant_reaches_its_inboxes_only():
    p = Principal(1, 9, "t", (Grant("project", 3, VIEWER),))
    assert p.can(VIEWER, "inbox", 7, parents=(("project", 3),))
    assert not p.can(ADMIN, "inbox", 7, parents=(("project", 3),))
    assert not p.can(VIEWER, "inbox", 8, parents=(("project", 4),))


def test_grants_of_another_account_do_not_count():
    p = Principal(1, 9, "t", (Grant("account", 2, ADMIN),))
    assert not p.can(VIEWER)
    assert p.level_for() == 0
