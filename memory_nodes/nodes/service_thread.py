"""Services answered by a thread of their own, outside the node's executor.

rclpy's executors are Python: each wake rebuilds a wait set over every entity of the node
(subscriptions, timers, the parameter services), makes a task per ready entity, hands it to a
thread pool and takes one request per service per wake. For a hot query service that costs
several times the query itself, and under many clients the queue grows faster than the
executor drains it (measured: 20 clients against the memory server, 300 answers/s, p99 0.7 s
for a 0.5 ms callback). A :class:`ServiceThread` waits on its own services only, drains every
queued request of a ready service in one wake and answers in arrival order.

The services are real rcl services of the node (same names, ``ros2 service list`` shows them),
but not in the node's list, so its executor never takes their requests.
"""

from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from rclpy.impl.implementation_singleton import rclpy_implementation as _rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.service import Service
from rclpy.type_support import check_is_valid_srv_type

#: Longest the thread waits before it checks whether it should stop.
WAKE_PERIOD_NS = 100_000_000

ServiceCallback = Callable[[Any, Any], Any]
#: True when a request must be answered off the thread (it may wait long, e.g. for a model).
Deferral = Callable[[Any], bool]


class ServiceThread:
    """Serve ``add``-ed services of ``node`` from one thread, started by :meth:`start`.

    A request for which the service's ``defer`` predicate is true is answered by a worker
    thread instead, so it cannot hold back the requests behind it.
    """

    def __init__(self, node: Node, name: str) -> None:
        self._node = node
        self._name = name
        self._services: list[tuple[Service, Deferral | None]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._workers: ThreadPoolExecutor | None = None
        self.answered = 0

    def add(
        self,
        srv_type: Any,
        srv_name: str,
        callback: ServiceCallback,
        qos_profile: QoSProfile,
        defer: Deferral | None = None,
    ) -> Service:
        if self._thread is not None:
            raise RuntimeError("services are added before the thread starts")
        check_is_valid_srv_type(srv_type)  # also loads the type's C support
        with self._node.handle:
            impl = _rclpy.Service(
                self._node.handle, srv_type, srv_name, qos_profile.get_c_qos_profile()
            )
        # No callback group: no executor ever sees this service.
        service = Service(impl, srv_type, srv_name, callback, None, qos_profile)
        self._services.append((service, defer))
        return service

    def start(self) -> None:
        if not self._services:  # rcl refuses to wait on an empty wait set
            return
        if any(defer is not None for _, defer in self._services):
            self._workers = ThreadPoolExecutor(max_workers=2, thread_name_prefix=self._name)
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread (within one wake period) and destroy the services."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0 * WAKE_PERIOD_NS * 1e-9 + 5.0)
        if self._workers is not None:
            self._workers.shutdown(wait=True, cancel_futures=False)
        for service, _ in self._services:
            service.destroy()
        self._services.clear()

    def _run(self) -> None:
        context = self._node.context
        wait_set = _rclpy.WaitSet(0, 0, 0, 0, len(self._services), 0, context.handle)
        while not self._stop.is_set() and context.ok():
            try:
                with context.handle:
                    wait_set.clear_entities()
                    for service, _ in self._services:
                        wait_set.add_service(service.handle)
                    wait_set.wait(WAKE_PERIOD_NS)
                    ready = wait_set.get_ready_entities("service")
            except Exception:  # the context is going away: the node is shutting down
                if self._stop.is_set() or not context.ok():
                    return
                raise
            for service, defer in self._services:
                if service.handle.pointer in ready:
                    self._drain(service, defer)

    def _drain(self, service: Service, defer: Deferral | None) -> None:
        """Answer every request the service holds, oldest first."""
        while not self._stop.is_set():
            with service.handle:
                request, header = service.handle.service_take_request(service.srv_type.Request)
            if header is None:
                return
            if defer is not None and self._workers is not None and defer(request):
                self._workers.submit(self._answer, service, request, header)
            else:
                self._answer(service, request, header)

    def _answer(self, service: Service, request: Any, header: Any) -> None:
        try:
            response = service.callback(request, service.srv_type.Response())
            service.send_response(response, header)
            self.answered += 1
        except Exception:  # one bad request must not stop the service for everyone
            self._node.get_logger().error(
                f"{service.srv_name} failed; request left unanswered:\n{traceback.format_exc()}"
            )
