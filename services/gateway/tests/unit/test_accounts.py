"""The account use cases with fakes: registration, login, token authentication, the configured admin."""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID, uuid4

import pytest
from gateway_fakes import NOW, SECRET, FakeHasher, FakeUsers

from ecommerce_runtime.clock import utc_now
from gateway.adapters.jwt_tokens import JwtTokens
from gateway.domain import EmailAlreadyRegistered, InvalidCredentials, InvalidToken, Principal, Role, User
from gateway.handlers import Accounts, RecentAccounts

PASSWORD = "correct horse battery staple"


def tokens() -> JwtTokens:
    return JwtTokens(
        SECRET.encode(), issuer="iss", audience="aud", ttl_seconds=900, leeway_seconds=0, clock=utc_now
    )  # PyJWT checks the times against the real clock


@pytest.fixture
def users() -> FakeUsers:
    return FakeUsers()


@pytest.fixture
def hasher() -> FakeHasher:
    return FakeHasher()


@pytest.fixture
def accounts(users: FakeUsers, hasher: FakeHasher) -> Accounts:
    return Accounts(users, hasher, tokens(), clock=lambda: NOW)


async def test_register_normalizes_the_email_and_stores_only_a_hash(
    accounts: Accounts, users: FakeUsers
) -> None:
    user = await accounts.register("  Ada@Example.COM ", PASSWORD)
    assert user.email == "ada@example.com"
    assert user.role is Role.CUSTOMER
    assert user.created_at == NOW
    stored = users.rows[user.id]
    assert PASSWORD not in stored.password_hash


async def test_an_address_registers_once_whatever_its_case(accounts: Accounts, users: FakeUsers) -> None:
    await accounts.register("ada@example.com", PASSWORD)
    with pytest.raises(EmailAlreadyRegistered):
        await accounts.register("ADA@example.com", "another password!")
    assert len(users.rows) == 1


async def test_login_returns_a_token_for_the_account(accounts: Accounts) -> None:
    user = await accounts.register("ada@example.com", PASSWORD)
    token = await accounts.login("Ada@example.com", PASSWORD)
    assert token.expires_in == 900
    principal = tokens().verify(token.access_token)
    assert principal.user_id == user.id


async def test_wrong_password_and_unknown_email_fail_alike_and_cost_alike(
    accounts: Accounts, hasher: FakeHasher
) -> None:
    await accounts.register("ada@example.com", PASSWORD)
    with pytest.raises(InvalidCredentials) as wrong_password:
        await accounts.login("ada@example.com", "not the password")
    with pytest.raises(InvalidCredentials) as unknown_email:
        await accounts.login("bob@example.com", PASSWORD)
    assert str(wrong_password.value) == str(unknown_email.value)
    # Both verified a hash: the unknown email against the dummy one (None), so timing says nothing.
    assert hasher.verified[-2] is not None
    assert hasher.verified[-1] is None


async def test_login_upgrades_an_outdated_hash(users: FakeUsers) -> None:
    hasher = FakeHasher(outdated_prefix="legacy:")
    accounts = Accounts(users, hasher, tokens(), clock=lambda: NOW)
    user = await accounts.register("ada@example.com", PASSWORD)
    await users.set_password_hash(user.id, "legacy:" + users.rows[user.id].password_hash)
    await accounts.login("ada@example.com", PASSWORD)
    assert users.rows[user.id].password_hash == await hasher.hash(PASSWORD)


async def test_authenticate_takes_the_role_from_the_account_not_the_token(
    accounts: Accounts, users: FakeUsers
) -> None:
    user = await accounts.register("ada@example.com", PASSWORD)
    token = await accounts.login("ada@example.com", PASSWORD)
    await users.set_role(user.id, Role.ADMIN)
    principal = await accounts.authenticate(token.access_token)
    assert (principal.user_id, principal.role, principal.email) == (user.id, Role.ADMIN, "ada@example.com")


async def test_the_token_of_a_deleted_user_is_refused(accounts: Accounts, users: FakeUsers) -> None:
    user = await accounts.register("ada@example.com", PASSWORD)
    token = await accounts.login("ada@example.com", PASSWORD)
    del users.rows[user.id]
    with pytest.raises(InvalidToken, match="user does not exist"):
        await accounts.authenticate(token.access_token)


async def test_ensure_admin_creates_the_admin_once_and_promotes_an_existing_account(
    accounts: Accounts, users: FakeUsers
) -> None:
    await accounts.ensure_admin("root@example.com", PASSWORD)
    await accounts.ensure_admin("root@example.com", PASSWORD)
    assert [u.role for u in users.rows.values()] == [Role.ADMIN]

    customer = await accounts.register("carol@example.com", PASSWORD)
    await accounts.ensure_admin("carol@example.com", "whatever password")
    assert users.rows[customer.id].role is Role.ADMIN


async def test_a_recently_authenticated_account_costs_no_lookup_until_its_time_is_up(
    users: FakeUsers, hasher: FakeHasher
) -> None:
    now = [NOW]
    accounts = Accounts(users, hasher, tokens(), clock=lambda: now[0], account_cache_seconds=30)
    user = await accounts.register("ada@example.com", PASSWORD)
    token = (await accounts.login("ada@example.com", PASSWORD)).access_token
    lookups: list[UUID] = []
    by_id = users.by_id

    async def counted(user_id: UUID) -> User | None:
        lookups.append(user_id)
        return await by_id(user_id)

    users.by_id = counted  # type: ignore[method-assign]

    first = await accounts.authenticate(token)
    await users.set_role(user.id, Role.ADMIN)
    del users.rows[user.id]
    now[0] += timedelta(seconds=29)
    assert await accounts.authenticate(token) == first  # trusted for 30 s: no second lookup
    assert lookups == [user.id]

    now[0] += timedelta(seconds=1)
    with pytest.raises(InvalidToken, match="user does not exist"):  # read again: the deletion shows
        await accounts.authenticate(token)
    assert lookups == [user.id, user.id]


async def test_the_account_cache_holds_a_bounded_number_of_accounts() -> None:
    recent = RecentAccounts(60, clock=lambda: NOW, capacity=2)
    principals = [Principal(uuid4(), Role.CUSTOMER, f"{n}@example.com") for n in range(3)]
    for principal in principals:
        recent.remember(principal)
    assert [recent.get(p.user_id) for p in principals] == [None, principals[1], principals[2]]
