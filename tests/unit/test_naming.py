import re

from pollbridge.naming import schedule_name

VALID = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")


def test_plain_ids_are_readable_and_deterministic() -> None:
    assert schedule_name("19041508_Xp2bKsUAs4Rm6I8", 3) == "19041508_Xp2bKsUAs4Rm6I8-p3"
    assert schedule_name("abc", 1) == schedule_name("abc", 1)
    assert schedule_name("abc", 1) != schedule_name("abc", 2)


def test_long_or_odd_ids_are_hashed_into_the_allowed_alphabet() -> None:
    for task_id in ("x" * 200, "task/with spaces:and#stuff", "ü" * 10, "a" * 61):
        name = schedule_name(task_id, 185)
        assert VALID.match(name), name
        assert name == schedule_name(task_id, 185)
    assert schedule_name("a/b", 1) != schedule_name("a:b", 1)


def test_boundary_length_stays_plain() -> None:
    task_id = "a" * 61
    assert schedule_name(task_id, 1) == task_id + "-p1"
    assert len(schedule_name(task_id, 1)) == 64
    assert schedule_name(task_id, 10).startswith("h-")
