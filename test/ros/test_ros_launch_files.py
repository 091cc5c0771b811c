"""The launch files (written for a robot's ROS 2; `launch` is not installable
here) stay in sync with the package: parsed with ``ast``, every executable
they start is installed, every parameter file they name exists and is
installed, remapped topics are ones tracker_node subscribes, and every key of
the parameter YAML files is a parameter the node declares -- checked by
loading the files through rcl's own YAML parser (``--params-file``) into real
nodes and validating the result."""
from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

import pytest
import yaml

rclpy = pytest.importorskip("rclpy")
from rclpy.node import Node  # noqa: E402

from vl_tracking_ros.ros import params as P  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
LAUNCH_FILES = sorted((ROOT / "launch").glob("*.launch.py"))
YAML_FILES = [ROOT / "config" / "tracker.yaml", ROOT / "config" / "demo.yaml"]


def _node_param_tables():
    """Parameter tables of every node a launch file may start."""
    from vl_tracking_ros.ros.voice_command_node import VOICE_PARAMS

    return {**P.NODE_PARAMS, "voice_command_node": VOICE_PARAMS}


def _calls(tree: ast.AST, name: str):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            fname = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            if fname == name:
                yield node


def _kw(call: ast.Call, key: str):
    for kw in call.keywords:
        if kw.arg == key:
            return kw.value
    return None


def _constants(tree: ast.AST):
    """Module-level NAME = "string" assignments."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    out[target.id] = node.value.value
    return out


def _str(value, consts):
    if isinstance(value, ast.Constant):
        return value.value
    if isinstance(value, ast.Name):
        return consts.get(value.id)
    return None


def test_launch_files_exist():
    names = {p.name for p in LAUNCH_FILES}
    assert {"tracker.launch.py", "demo.launch.py"} <= names


@pytest.mark.parametrize("path", LAUNCH_FILES, ids=lambda p: p.name)
def test_launch_executables_and_files_exist(path):
    tree = ast.parse(path.read_text())
    consts = _constants(tree)
    assert "generate_launch_description" in {f.name for f in tree.body if isinstance(f, ast.FunctionDef)}
    cmake = (ROOT / "CMakeLists.txt").read_text()
    cfg = configparser.ConfigParser()
    cfg.read(ROOT / "setup.cfg")
    console_scripts = cfg["options.entry_points"]["console_scripts"]
    nodes = list(_calls(tree, "Node"))
    assert nodes, f"{path.name} starts no node"
    own = 0
    for call in nodes:
        package = _str(_kw(call, "package"), consts)
        executable = _str(_kw(call, "executable"), consts)
        assert package and executable, f"{path.name}: Node without literal package/executable"
        if package != "vl_tracking_ros":
            continue  # e.g. rviz2 from the robot's install
        own += 1
        script = ROOT / "scripts" / executable
        assert script.is_file(), f"{path.name}: executable {executable} has no scripts/{executable}"
        assert f"scripts/{executable}" in cmake, f"{executable} is not installed by CMakeLists.txt"
        assert re.search(rf"^\s*{executable}\s*=", console_scripts, re.M), f"{executable} not in setup.cfg"
        module = re.search(r"from (\S+) import main", script.read_text()).group(1)
        assert (ROOT / (module.replace(".", "/") + ".py")).is_file(), f"{executable}: module {module} missing"
        name = _str(_kw(call, "name"), consts)
        assert name in _node_param_tables(), f"{path.name}: node name {name!r} has no parameter table"
        declared = {spec.name for spec in _node_param_tables()[name]}
        params = _kw(call, "parameters")
        for item in (params.elts if isinstance(params, ast.List) else []):
            if isinstance(item, ast.Dict):
                keys = {_str(k, consts) for k in item.keys}
                assert keys <= declared, f"{path.name}: {name} has no parameters {keys - declared}"
    assert own >= 1
    # every os.path.join(share, "config", X) / ("launch", X) names a file that exists and is installed
    for call in _calls(tree, "join"):
        parts = [_str(a, consts) for a in call.args[1:]]
        if parts and all(isinstance(p, str) for p in parts) and parts[0] in ("config", "launch"):
            assert (ROOT.joinpath(*parts)).is_file(), f"{path.name} names missing file {'/'.join(parts)}"
            assert re.search(rf"install\(DIRECTORY[^)]*\b{parts[0]}\b", cmake), f"{parts[0]}/ not installed"


def test_tracker_launch_remaps_only_subscribed_topics():
    tree = ast.parse((ROOT / "launch" / "tracker.launch.py").read_text())
    inputs = next(ast.literal_eval(n.value) for n in tree.body
                  if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "INPUTS")
    node_src = ast.parse((ROOT / "vl_tracking_ros" / "ros" / "tracker_node.py").read_text())
    subscribed = {call.args[1].value for call in _calls(node_src, "create_subscription")
                  if len(call.args) > 1 and isinstance(call.args[1], ast.Constant)}
    assert set(inputs) <= subscribed, f"remapped but not subscribed: {set(inputs) - subscribed}"
    assert {"rgb/image", "rgb/camera_info", "depth/image", "thermal/image", "events", "command"} <= set(inputs)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_yaml_keys_are_declared_parameters(path):
    data = yaml.safe_load(path.read_text())
    assert data, f"{path.name} is empty"
    for node_name, section in data.items():
        assert node_name in P.NODE_PARAMS, f"{path.name}: unknown node {node_name!r}"
        declared = {s.name: s for s in P.NODE_PARAMS[node_name]}
        params = section["ros__parameters"]
        unknown = set(params) - set(declared)
        assert not unknown, f"{path.name}: {node_name} has undeclared parameters {sorted(unknown)}"
        for key, value in params.items():
            default = declared[key].default
            if isinstance(default, bool):
                assert isinstance(value, bool), key
            elif isinstance(default, (int, float)):
                assert isinstance(value, type(default)) and not isinstance(value, bool), \
                    f"{path.name}: {key} = {value!r} must be a {type(default).__name__} like its default"
            elif isinstance(default, str):
                assert isinstance(value, str), key


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: p.name)
def test_yaml_loads_into_real_nodes(path):
    """rcl parses the file (--params-file) and each node validates the values."""
    data = yaml.safe_load(path.read_text())
    context = rclpy.Context()
    rclpy.init(context=context, args=["--ros-args", "--params-file", str(path)], domain_id=99)
    builders = {"tracker_node": P.tracker_config, "replay_node": P.replay_config,
                "command_console_node": P.console_config}
    try:
        for node_name, section in data.items():
            node = Node(node_name, context=context)
            try:
                values = P.declare_and_read(node, P.NODE_PARAMS[node_name])
                builders[node_name](values)
                for key, value in section["ros__parameters"].items():
                    got = values[key]
                    assert (list(got) if isinstance(got, (list, tuple)) else got) == value, key
            finally:
                node.destroy_node()
    finally:
        context.try_shutdown()
