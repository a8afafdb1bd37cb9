"""The URDF reader on hostile files: anything that is not a usable robot is a UrdfError with a code
and a line, never another exception, and reading is bounded however the file is shaped."""

from __future__ import annotations

from pathlib import Path

from hostile_inputs import CARTPOLE_URDF, cartpole_urdf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specc.diagnostics import CODES
from specc.robot.urdf import MAX_LINKS, UrdfError, read_urdf

PROPERTY = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def _read(tmp_path: Path, data: bytes) -> None:
    path = tmp_path / "robot.urdf"
    path.write_bytes(data)
    try:
        urdf = read_urdf(path)
    except UrdfError as err:
        assert err.code in CODES and err.line >= 1
        return
    urdf.movable_joints  # noqa: B018 - walking the tree must not raise either
    for issue in urdf.issues:
        assert issue.code in CODES


@PROPERTY
@given(st.binary(max_size=600))
def test_random_bytes_are_a_urdf_error(tmp_path, data):
    _read(tmp_path, data)


XML_PIECES = st.sampled_from(
    ["<", ">", "/>", "</", "<robot>", "</robot>", '<link name="a">', "</link>", '<link name="b"/>',
     '<joint name="j" type="revolute">', '<joint name="k" type="fixed">', "</joint>", '<parent link="a"/>',
     '<child link="b"/>', '<child link="a"/>', '<origin xyz="1 2"/>', '<origin xyz="nan 0 0"/>',
     '<inertial><mass value="-1"/></inertial>', '<inertia ixx="1e999"/>', '<limit lower="x"/>',
     "<!DOCTYPE r>", "<!-- c -->", "&amp;", "&x;", '<?xml version="1.0" encoding="bogus"?>', "\x00", " ",
     '<collision><geometry><mesh filename="package://../../etc/passwd"/></geometry></collision>']
)  # fmt: skip


@PROPERTY
@given(st.data())
def test_garbled_urdf_is_a_urdf_error(tmp_path, data):
    text = cartpole_urdf()
    for _ in range(data.draw(st.integers(1, 5))):
        at = data.draw(st.integers(0, len(text)))
        cut = data.draw(st.integers(0, 20))
        text = text[:at] + "".join(data.draw(st.lists(XML_PIECES, max_size=10))) + text[at + cut :]
    _read(tmp_path, text.encode("utf-8", "surrogatepass"))


def test_too_many_links_stop_the_parse(tmp_path):
    links = "".join(f'<link name="x{i}"/>' for i in range(MAX_LINKS + 1))
    path = tmp_path / "robot.urdf"
    path.write_text(cartpole_urdf(links))
    try:
        read_urdf(path)
    except UrdfError as err:
        assert err.code == "SPC312" and f"more than {MAX_LINKS} <link>" in err.message
    else:
        raise AssertionError("read")


def test_the_reader_keeps_the_action_order_and_rigid_groups_without_recursion(tmp_path):
    urdf = read_urdf(CARTPOLE_URDF)
    assert [j.name for j in urdf.movable_joints] == ["slider", "hinge"]
    chain = "".join(
        f'<link name="c{i}"/><joint name="cj{i}" type="fixed"><parent link="{"pole" if i == 0 else f"c{i - 1}"}"/>'
        f'<child link="c{i}"/></joint>'
        for i in range(200)
    )
    path = tmp_path / "robot.urdf"
    path.write_text(cartpole_urdf(chain))
    urdf = read_urdf(path)
    assert urdf.rigid_group("pole", set()) == ["pole", *(f"c{i}" for i in range(200))]
    assert urdf.rigid_group("pole", {"c100"}) == ["pole", *(f"c{i}" for i in range(100))]
