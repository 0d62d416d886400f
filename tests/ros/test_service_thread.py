"""Services answered by their own thread (memory_nodes.nodes.service_thread), over real DDS."""

from __future__ import annotations

import threading
import time

import rclpy
from memory_interfaces.srv import QueryObjects

from memory_nodes.nodes.service_qos import service_qos
from memory_nodes.nodes.service_thread import ServiceThread
from tests.ros.conftest import call_service, spin_until


def _server_node(name: str):
    context = rclpy.Context()
    rclpy.init(context=context)
    return context, rclpy.create_node(name, context=context)


def test_every_request_of_many_clients_is_answered_in_order(ros_node) -> None:
    context, node = _server_node("service_thread_server")
    seen: list[str] = []

    def _echo(request: QueryObjects.Request, response: QueryObjects.Response):
        seen.append(request.object_type)
        response.success, response.message = True, f"echo {request.object_type}"
        return response

    served = ServiceThread(node, "test_queries")
    served.add(QueryObjects, "~/query_objects", _echo, service_qos())
    served.start()
    try:
        clients = [
            # Deep queues at both ends, as the stack's clients have: 20 requests go out at once.
            ros_node.create_client(
                QueryObjects, "/service_thread_server/query_objects", qos_profile=service_qos()
            )
            for _ in range(5)
        ]
        assert spin_until(ros_node, lambda: all(c.service_is_ready() for c in clients), 30.0)
        futures = []
        for round_index in range(20):
            for index, client in enumerate(clients):
                request = QueryObjects.Request(object_type=f"T{index}_{round_index}")
                futures.append((request.object_type, client.call_async(request)))
        assert spin_until(ros_node, lambda: all(f.done() for _, f in futures), 30.0)
        assert [f.result().message for _, f in futures] == [f"echo {t}" for t, _ in futures]
        # Each client's requests reach the callback in the order it sent them.
        for index in range(5):
            mine = [t for t in seen if t.startswith(f"T{index}_")]
            assert mine == [f"T{index}_{r}" for r in range(20)]
        assert served.answered == 100
        # The node's executor never sees the service: it is not in the node's list.
        assert all(s.srv_name != "~/query_objects" for s in node.services)
        names = dict(node.get_service_names_and_types())
        assert "/service_thread_server/query_objects" in names
    finally:
        served.stop()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_deferred_request_does_not_hold_back_the_ones_behind_it(ros_node) -> None:
    context, node = _server_node("service_thread_deferring")
    release = threading.Event()

    def _answer(request: QueryObjects.Request, response: QueryObjects.Response):
        if request.text:  # the slow kind, answered by a worker
            release.wait(20.0)
        response.success, response.message = True, request.text or request.object_type
        return response

    served = ServiceThread(node, "test_deferring")
    served.add(
        QueryObjects, "~/query_objects", _answer, service_qos(), defer=lambda r: bool(r.text)
    )
    served.start()
    try:
        client = ros_node.create_client(QueryObjects, "/service_thread_deferring/query_objects")
        assert spin_until(ros_node, client.service_is_ready, 30.0)
        slow = client.call_async(QueryObjects.Request(text="a mug"))
        fast = client.call_async(QueryObjects.Request(object_type="Mug"))
        assert spin_until(ros_node, fast.done, 20.0)
        assert fast.result().message == "Mug" and not slow.done()
        release.set()
        assert spin_until(ros_node, slow.done, 20.0)
        assert slow.result().message == "a mug"
    finally:
        release.set()
        served.stop()
        node.destroy_node()
        rclpy.try_shutdown(context=context)


def test_a_failing_callback_leaves_the_service_running(ros_node) -> None:
    context, node = _server_node("service_thread_failing")

    def _answer(request: QueryObjects.Request, response: QueryObjects.Response):
        if request.object_type == "Bad":
            raise RuntimeError("broken request")
        response.success, response.message = True, "fine"
        return response

    served = ServiceThread(node, "test_failing")
    served.add(QueryObjects, "~/query_objects", _answer, service_qos())
    served.start()
    try:
        client = ros_node.create_client(QueryObjects, "/service_thread_failing/query_objects")
        assert spin_until(ros_node, client.service_is_ready, 30.0)
        client.call_async(QueryObjects.Request(object_type="Bad"))
        answer = call_service(ros_node, client, QueryObjects.Request(object_type="Mug"), 20.0)
        assert answer.message == "fine"
    finally:
        started = time.monotonic()
        served.stop()
        assert time.monotonic() - started < 5.0  # the thread notices the stop within a wake
        node.destroy_node()
        rclpy.try_shutdown(context=context)
