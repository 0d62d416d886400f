"""The per-instance states the simulator bridge sends with its instance labels."""

from __future__ import annotations

import json

import pytest
from memory_interfaces.msg import InstanceLabels

from memory_nodes.core.errors import InvalidInputError
from memory_nodes.nodes.perception_node import instance_states
from memory_nodes.nodes.sim_bridge_node import robot_observation

FRIDGE = "Fridge|-02.10|+00.00|+01.07"


def _labels(states_json: list[str]) -> InstanceLabels:
    return InstanceLabels(ids=[3, 9], labels=[FRIDGE, "Floor"], states_json=states_json)


def test_states_map_labels_to_string_states_and_skip_empty_entries() -> None:
    states = instance_states(_labels([json.dumps({"isOpen": "false"}), ""]))
    assert states == {FRIDGE: {"isOpen": "false"}}
    assert instance_states(_labels([])) == {}


@pytest.mark.parametrize(
    "states_json",
    [["{}"], ["not json", ""], [json.dumps({"isOpen": False}), ""], [json.dumps([1]), ""]],
)
def test_malformed_states_are_refused_with_the_reason(states_json: list[str]) -> None:
    with pytest.raises(InvalidInputError, match="states"):
        instance_states(_labels(states_json))


def test_the_robot_observation_says_which_states_an_object_has() -> None:
    metadata = {
        "agent": {},
        "objects": [
            {"objectId": FRIDGE, "objectType": "Fridge", "visible": True, "isOpen": False,
             "openable": True, "position": {"x": 1.0, "y": 0.0, "z": 2.0}},
        ],
    }  # fmt: skip
    (fridge,) = robot_observation(metadata, set())["objects"]
    assert fridge["openable"] is True and fridge["isOpen"] is False
    assert "position" not in fridge  # positions come from perception, not from the simulator
