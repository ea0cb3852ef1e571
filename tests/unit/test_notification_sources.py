"""One place makes notifications: ``store.notifications.journal``, given a typed fact, announcing what it did.

The source checks read the package's syntax trees (as test_layers.py does): a new way into the journal, or
back to the hidden per-connection flag, fails here before any gateway runs.
"""

from __future__ import annotations

import ast
import typing
from pathlib import Path

import pytest

from statusgate.domain import notifications as facts
from statusgate.domain.instance_settings import Switch
from statusgate.domain.states import UNSENT_STATES, StatusState
from tests.unit.test_layers import modules

JOURNAL = "statusgate.store.notifications"
DATABASE = "statusgate.store.db"
#: the notification facts, by class name
FACTS = {cls.__name__: cls for cls in typing.get_args(facts.Notification)}


def trees() -> dict[str, ast.Module]:
    return {name: ast.parse(path.read_text(encoding="utf-8")) for name, path in modules().items()}


def calls(tree: ast.AST) -> list[ast.Call]:
    return [node for node in ast.walk(tree) if isinstance(node, ast.Call)]


def called_name(call: ast.Call) -> str | None:
    """``f`` for ``f(…)`` and ``x.f(…)``."""
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def constructed_facts(tree: ast.AST) -> set[str]:
    """The fact classes a module makes: ``Fact(…)`` or ``Fact.after_move(…)``."""
    made = set()
    for call in calls(tree):
        func = call.func
        if isinstance(func, ast.Attribute):
            func = func.value
        if isinstance(func, ast.Name) and func.id in FACTS:
            made.add(func.id)
    return made


def test_only_the_journal_touches_the_notifications_table() -> None:
    users = sorted(
        name
        for name, tree in trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        and node.module == "statusgate.store.schema.notifications"
        and any(alias.name == "notifications" for alias in node.names)
    )
    assert users == [JOURNAL]


def test_within_the_journal_only_journal_inserts() -> None:
    tree = trees()[JOURNAL]
    inserts = [c for c in calls(tree) if called_name(c) == "insert"]
    assert len(inserts) == 1, "one INSERT statement, built once"
    executing = {
        function.name
        for function in ast.walk(tree)
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and node.id == "_INSERT"
    }
    # journal() is journal_many() of one fact: the insert runs in one function
    assert executing == {"journal_many"}


def test_only_the_journal_announces() -> None:
    announcing = sorted(
        name for name, tree in trees().items() if any(called_name(c) == "announce" for c in calls(tree))
    )
    assert announcing == [JOURNAL]


def test_per_transaction_state_is_the_databases_own() -> None:
    """No module but store/db.py keeps state in ``Connection.info`` (where the old hidden flag lived)."""
    found = sorted(
        name
        for name, tree in trees().items()
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr == "info"
        and isinstance(node.value, ast.Name)
        and node.value.id in {"conn", "connection"}
    )
    assert set(found) <= {DATABASE}, found


def test_every_fact_is_made_where_it_happens_and_journaled_there() -> None:
    makers: dict[str, set[str]] = {fact: set() for fact in FACTS}
    for name, tree in trees().items():
        if name in {JOURNAL, "statusgate.domain.notifications"}:
            continue  # the journal reads facts back; the domain module defines them
        for fact in constructed_facts(tree):
            makers[fact].add(name)
        made = constructed_facts(tree)
        if made:
            journals = any(
                isinstance(c.func, ast.Attribute)
                and c.func.attr in {"journal", "journal_many"}
                and isinstance(c.func.value, ast.Name)
                and c.func.value.id == "notifications"
                for c in calls(tree)
            )
            assert journals, f"{name} makes {sorted(made)} but never calls notifications.journal"
    assert all(makers.values()), f"facts nobody makes: {[f for f, m in makers.items() if not m]}"


def test_nobody_appends_the_old_way() -> None:
    root = Path(__file__).resolve().parents[2]
    for folder in ("src", "tests", "bench"):
        for path in (root / folder).rglob("*.py"):
            for call in calls(ast.parse(path.read_text(encoding="utf-8"))):
                func = call.func
                old = (
                    isinstance(func, ast.Attribute)
                    and func.attr == "append"
                    and isinstance(func.value, ast.Name)
                    and func.value.id == "notifications"
                )
                assert not old, f"{path.relative_to(root)}:{call.lineno} calls notifications.append"


# --- the facts ------------------------------------------------------------------------------------------


def test_every_type_has_one_fact_and_a_switch() -> None:
    assert sorted(cls.type for cls in FACTS.values()) == sorted(facts.NotificationType)
    assert {t: t.switch for t in facts.NotificationType} == {
        facts.NotificationType.OUTGOING_MESSAGE_STATUS: Switch.OUTGOING_WEBHOOK,
        facts.NotificationType.OUTGOING_STATUS_RECEIPT: Switch.OUTGOING_WEBHOOK,
        facts.NotificationType.INCOMING_STATUS_RECEIVED: Switch.INCOMING_WEBHOOK,
        facts.NotificationType.STATE_INSTANCE_CHANGED: Switch.STATE_WEBHOOK,
    }


@pytest.mark.parametrize("state", list(StatusState))
def test_the_moves_a_status_reports(state: StatusState) -> None:
    fact = facts.OutgoingStatusChanged.after_move(1, "3EB0", state, None, 5.0)
    if state is StatusState.SENT:
        assert fact == facts.OutgoingStatusChanged(1, "3EB0", facts.Outcome.SENT, 5.0)
        assert facts.OutgoingStatusChanged.after_move(1, "3EB0", state, "ignored", 5.0) == fact
    elif state in UNSENT_STATES:
        # a failure always says why: the state's name when the move gave no reason
        assert fact == facts.OutgoingStatusChanged(1, "3EB0", facts.Outcome.FAILED, 5.0, state.value)
        reason = facts.OutgoingStatusChanged.after_move(1, "3EB0", state, "refused", 5.0)
        assert reason is not None and reason.description == "refused"
    else:
        assert fact is None
