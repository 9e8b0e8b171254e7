"""Who sees which course: the SQL filter of course lists agrees with ``can_see`` on every case."""
from __future__ import annotations

from school.accounts.models import Category, Role
from school.courses import visibility


def test_course_lists_filtered_in_sql_agree_with_can_see(app, make, courses):
    t = make.tree()
    catalogue = [
        courses.course(title="全体", published=True),
        courses.course(title="草稿", published=False),
        courses.course(title="一总支", orgs=[t["a"]], published=True),
        courses.course(title="东村", orgs=[t["a1"]], published=True),
        courses.course(title="东村或南村", orgs=[t["a1"], t["b1"]], published=True),
        courses.course(title="预备党员", categories=[Category.PROBATIONARY], published=True),
        courses.course(title="二总支的领导干部", orgs=[t["b"]], categories=[Category.CADRE, Category.COMMITTEE],
                       published=True),
        courses.course(title="东村草稿", orgs=[t["a1"]], published=False),
    ]
    people = [make.user(org=org, role=role, category=category)
              for org in (None, t["root"], t["a"], t["a1"], t["a2"], t["b1"])
              for role in (Role.MEMBER, Role.SECRETARY)
              for category in (Category.FULL, Category.PROBATIONARY, Category.CADRE)]
    people += [make.user(role=Role.EDITOR), make.user(org=t["b1"], role=Role.ADMIN)]
    seen = {}
    for person in people:
        expected = {c.title for c in catalogue if visibility.can_see(c, person)}
        listed = {c.title for c in visibility.visible_courses(person)}
        assert listed == expected, (person.role, person.org and person.org.name, person.category)
        seen[(person.role, person.org and person.org.name, person.category)] = listed
    # A few of the cases spelled out, so the agreement above is not two wrong answers.
    assert seen[(Role.MEMBER, "东村党支部", Category.FULL)] == {"全体", "一总支", "东村", "东村或南村"}
    assert seen[(Role.MEMBER, "南村党支部", Category.CADRE)] == {"全体", "东村或南村", "二总支的领导干部"}
    assert seen[(Role.MEMBER, None, Category.PROBATIONARY)] == {"全体", "预备党员"}
    assert seen[(Role.SECRETARY, "第一党总支", Category.FULL)] == {"全体", "一总支", "东村", "东村或南村"}
    assert "二总支的领导干部" in seen[(Role.SECRETARY, "青山镇党委", Category.FULL)]  # manages that subtree
    assert len(seen[(Role.EDITOR, None, Category.FULL)]) == len(catalogue)
