"""The simulator as an AI2-THOR "Unity executable" speaking the ai2thor client's FIFO protocol.

``ai2thor.controller.Controller(local_executable_path=...)`` launches the executable with the two
pipe paths in ``AI2THOR_FIFO_SERVER_PIPE_PATH`` (we write events) and
``AI2THOR_FIFO_CLIENT_PIPE_PATH`` (we read actions), plus ``-screen-width/-screen-height``.
Every message is a run of fields, each a ``!BI`` header (field type, body length) and a body, closed
by an end-of-message header (type 255, length 0). Actions arrive as JSON; an event goes back as a
msgpack METADATA field ``{"agents": [metadata], "sequenceId", "activeAgentId",
"thirdPartyCameras"}`` followed by raw image fields stored bottom row first (the client flips
them): RGB uint8, depth float32 metres (``depthFormat="Meters"``), instance ids as RGB uint8.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import sys
from typing import BinaryIO

import msgpack
import numpy as np

HEADER = struct.Struct("!BI")
METADATA, ACTION, RGB_IMAGE, DEPTH_IMAGE, IDS_IMAGE, END_OF_MESSAGE = 1, 2, 4, 5, 9, 255


def _read_exact(pipe: BinaryIO, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        part = pipe.read(size - len(data))
        if not part:
            return None
        data += part
    return data


def read_message(pipe: BinaryIO) -> dict | None:
    """One action dict from the client, or None when the client closed its pipe."""
    action = None
    while True:
        header = _read_exact(pipe, HEADER.size)
        if header is None:
            return None
        field, length = HEADER.unpack(header)
        if field == END_OF_MESSAGE:
            return action
        body = _read_exact(pipe, length) if length else b""
        if body is None:
            return None
        if field == ACTION:
            action = json.loads(body.decode("utf8"))


def encode_event(metadata: dict, frames: dict, sequence_id: int, render_image: bool) -> bytes:
    """Serialise one event (metadata + enabled images) in the client's field framing."""
    metadata = dict(metadata, sequenceId=sequence_id)
    envelope = {
        "agents": [metadata],
        "sequenceId": sequence_id,
        "activeAgentId": 0,
        "thirdPartyCameras": [],
    }
    parts = [(METADATA, msgpack.packb(envelope, use_bin_type=True))]
    if render_image and frames.get("frame") is not None:
        parts.append((RGB_IMAGE, np.ascontiguousarray(frames["frame"][::-1]).tobytes()))
    if frames.get("depth_frame") is not None:
        depth = frames["depth_frame"].astype(np.float32)[::-1]
        parts.append((DEPTH_IMAGE, np.ascontiguousarray(depth).tobytes()))
    if frames.get("instance_segmentation_frame") is not None:
        ids = frames["instance_segmentation_frame"][::-1]
        parts.append((IDS_IMAGE, np.ascontiguousarray(ids).tobytes()))
    out = b"".join(HEADER.pack(t, len(b)) + b for t, b in parts)
    return out + HEADER.pack(END_OF_MESSAGE, 0)


def serve(sim, server_pipe: BinaryIO, client_pipe_path: str) -> None:
    """Answer actions until the client goes away; the first event is sent unprompted."""
    metadata, frames = sim.step({"action": "Pass", "sequenceId": 0})
    server_pipe.write(encode_event(metadata, frames, 0, True))
    server_pipe.flush()
    with open(client_pipe_path, "rb") as client_pipe:
        while True:
            action = read_message(client_pipe)
            if action is None:
                return
            sequence_id = int(action.get("sequenceId", sim.sequence_id + 1))
            if action.get("action") == "Reset":
                metadata, frames = sim.reset(action.get("sceneName"))
            else:
                metadata, frames = sim.step(action)
            sim.sequence_id = sequence_id
            render_image = action.get("renderImage", True) is not False
            server_pipe.write(encode_event(metadata, frames, sequence_id, render_image))
            server_pipe.flush()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the executable the ai2thor client launches."""
    parser = argparse.ArgumentParser(description="Household simulator behind the ai2thor client")
    parser.add_argument("-screen-width", dest="width", type=int, default=300)
    parser.add_argument("-screen-height", dest="height", type=int, default=300)
    parser.add_argument("--scene", default="FloorPlan1")
    args, _unknown = parser.parse_known_args(argv)
    server_path = os.environ.get("AI2THOR_FIFO_SERVER_PIPE_PATH")
    client_path = os.environ.get("AI2THOR_FIFO_CLIENT_PIPE_PATH")
    if not server_path or not client_path:
        print("household sim: run me through ai2thor's Controller (FIFO server)", file=sys.stderr)
        return 2
    from sim.household_sim import HouseholdSim

    sim = HouseholdSim(args.scene, width=args.width, height=args.height)
    try:
        with open(server_path, "wb") as server_pipe:
            serve(sim, server_pipe, client_path)
    except BrokenPipeError:
        pass
    finally:
        sim.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
