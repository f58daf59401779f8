import re

from pollbridge.naming import schedule_name

VALID = re.compile(r"^[0-9a-zA-Z\-_.]{1,64}$")


def test_plain_ids_are_readable_and_deterministic() -> None:
    assert schedule_name("19041508_Xp2bKsUAs4Rm6I8", 3) == "t-19041508_Xp2bKsUAs4Rm6I8-p3"
    assert schedule_name("abc", 1) == schedule_name("abc", 1)
    assert schedule_name("abc", 1) != schedule_name("abc", 2)


def test_long_or_odd_ids_are_hashed_into_the_allowed_alphabet() -> None:
    for task_id in ("x" * 200, "task/with spaces:and#stuff", "ü" * 10, "a" * 54):
        name = schedule_name(task_id, 185)
        assert VALID.match(name), name
        assert name == schedule_name(task_id, 185)
    assert schedule_name("a/b", 1) != schedule_name("a:b", 1)


def test_a_task_keeps_one_prefix_for_all_its_polls() -> None:
    for task_id in ("a" * 53, "a" * 54, "x/y"):
        names = [schedule_name(task_id, n) for n in (1, 9, 10, 9_999_999)]
        assert all(VALID.match(name) for name in names), names
        assert len({name.rsplit("-p", 1)[0] for name in names}) == 1
    assert schedule_name("a" * 53, 9_999_999) == "t-" + "a" * 53 + "-p9999999"
    assert schedule_name("a" * 54, 1).startswith("h-")
